#!/usr/bin/env python3
"""Writes fixwright's pinned-pip environment table from the official SWE-bench harness's specs.

    python3 scripts/pinned-env-table.py --constants SWE-bench/swebench/harness/constants/python.py \
        [--dataset lite.jsonl --repos REPOS_DIR] > benchmarks/eval/environments-pinned.json

The official harness keeps, per repository and version, the Python it uses, conda packages, a
requirements file read from the repository at the version's environment_setup_commit, and pip pins
(`swebench/harness/constants/python.py`, v4.1.0 here; the file is plain data and is run only to
read it). fixwright's shipped table (benchmarks/eval/environments.json) tests with Debian's
packages, offline. This script keeps every entry of it and adds, for machines that reach a package
index (FIXWRIGHT_PIP_INDEX_URL) or hold wheels (FIXWRIGHT_PIP_WHEELS), the official pins as the
entry's `pip` list; pip installs them over Debian's packages at image build time, never while a
repository's code runs. Where the official spec names a requirements file, the file is read from
the repository mirror at each version's environment_setup_commit (with --dataset and --repos), as
the official harness reads it from GitHub. What cannot be carried over is said in the entry's
`notes`: another Python than the official one, conda-only environments, requirement lines that are
not plain pins (URLs, markers).
"""
import argparse
import copy
import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

# The shape fixwright's environment specs accept (sandbox/images/env-image.ts, pipRequirement).
PIP_REQUIREMENT = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])? *((===?|[<>!~]=|[<>]) *[A-Za-z0-9.*+!-]+( *, *(===?|[<>!~]=|[<>]) *[A-Za-z0-9.*+!-]+)*)?$"
)
SUITE_PYTHON = {"fixwright-sandbox:bullseye": "3.9", "fixwright-sandbox:base": "3.11"}


def name_of(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-").replace(".", "-")


def git_show(git_dir: Path, commit: str, path: str):
    try:
        return subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], check=True, capture_output=True, text=True).stdout
    except subprocess.CalledProcessError:
        return None


def requirements_at(git_dir: Path, commit: str, paths: list) -> tuple:
    """The official get_requirements_by_commit, reading git objects instead of GitHub: -r includes followed once."""
    for path in paths:
        text = git_show(git_dir, commit, path)
        if text is not None:
            break
    else:
        return None, []
    folder = "/".join(path.split("/")[:-1])
    excluded = lambda line: any(line.strip().startswith(x) for x in ["-e .", "#", ".[test"])
    lines, extra = [], []
    for line in text.split("\n"):
        if line.strip().startswith("-r"):
            included = git_show(git_dir, commit, f"{folder}/{line.strip()[2:].strip()}".lstrip("/"))
            extra += [l for l in (included or "").split("\n") if not excluded(l)]
        elif not excluded(line):
            lines.append(line)
    # pip reads " # ..." to the end of a line as a comment.
    return path, [re.sub(r"(^|\s)#.*$", "", l).strip() for l in extra + lines if re.sub(r"(^|\s)#.*$", "", l).strip()]


def merge(first: list, later: list) -> list:
    """Pins in install order: a later list wins for a distribution both name (as pip install of the later list would)."""
    names = {name_of(r) for r in later}
    return [r for r in first if name_of(r) not in names] + later


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--constants", required=True, help="swebench/harness/constants/python.py of the official harness (v4.1.0)")
    ap.add_argument("--table", default=str(Path(__file__).resolve().parent.parent / "benchmarks/eval/environments.json"))
    ap.add_argument("--dataset", help="SWE-bench rows (JSONL): each version's environment_setup_commit, for requirements files")
    ap.add_argument("--repos", help="repositories as DIR/<owner>/<name> (git mirrors or checkouts)")
    ap.add_argument("--harness", default="SWE-bench v4.1.0", help="the harness release the constants come from (named in the table)")
    args = ap.parse_args()

    constants = runpy.run_path(args.constants)
    specs = constants.get("MAP_REPO_VERSION_TO_SPECS_PY") or constants["MAP_REPO_VERSION_TO_SPECS"]
    req_paths = constants.get("MAP_REPO_TO_REQS_PATHS", {})
    table = json.loads(Path(args.table).read_text())
    setup_commits = {}
    if args.dataset:
        for line in Path(args.dataset).read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                setup_commits.setdefault((row["repo"], str(row.get("version"))), row.get("environment_setup_commit"))

    pinned = copy.deepcopy(table)
    pinned["$comment"] = (
        f"Pinned-pip environment table, written by scripts/pinned-env-table.py from {args.harness}'s specs over the shipped table "
        "(benchmarks/eval/environments.json): each entry's official pip pins are installed with pip over Debian's packages at image build "
        "time, from FIXWRIGHT_PIP_INDEX_URL or FIXWRIGHT_PIP_WHEELS. Use it with `fixwright eval --env-table` on a machine that reaches a "
        "package index. Unverified here (no package index offline). Each entry's notes say where it departs from the official environment."
    )
    for repo, entry in pinned["repos"].items():
        for version, env_entry in entry["versions"].items():
            spec = specs.get(repo, {}).get(version)
            notes = list(env_entry.get("notes", []))
            if spec is None:
                notes.append(f"{args.harness} has no spec for {repo} {version}: Debian's packages only")
                env_entry["notes"] = notes
                continue
            pins, dropped = [], []
            packages = spec.get("packages")
            if packages == "requirements.txt":
                commit = setup_commits.get((repo, version))
                git_dir = Path(args.repos, repo) if args.repos else None
                if git_dir and (git_dir / ".git").exists():
                    git_dir = git_dir / ".git"
                if commit and git_dir and git_dir.exists():
                    path, lines = requirements_at(git_dir, commit, req_paths.get(repo, []))
                    if path:
                        pins += lines
                        notes.append(f"requirements from {path} at {commit[:12]} (the version's environment_setup_commit)")
                    else:
                        notes.append(f"no requirements file at {commit[:12]} ({', '.join(req_paths.get(repo, []))})")
                else:
                    notes.append("the official requirements file was not read (no mirror or environment_setup_commit given): its pins are missing")
            elif packages == "environment.yml":
                notes.append("the official environment is a conda environment.yml; only its pip pins are carried over")
            elif isinstance(packages, str) and packages.strip():
                pins += packages.split()
                notes.append(f"conda packages ({packages}) installed with pip instead, unpinned")
            pins = merge(pins, list(spec.get("pip_packages") or []))
            kept = []
            for requirement in pins:
                (kept if PIP_REQUIREMENT.match(requirement) else dropped).append(requirement)
            if dropped:
                notes.append(f"left out (not plain requirements: URLs, options or markers): {', '.join(dropped[:8])}{' …' if len(dropped) > 8 else ''}")
            env = env_entry.get("env") if env_entry.get("env") is not None else {}
            base = env.get("base", "fixwright-sandbox:base")
            here = SUITE_PYTHON.get(base, "?")
            if spec.get("python") and spec["python"] != here:
                notes.append(f"official Python {spec['python']}; this image has Python {here} ({base}), so some pins may have no wheel for it")
            if kept:
                env = {**env, "pip": kept, "allow_source_builds": True}
            env_entry["env"] = env
            env_entry["notes"] = notes
    json.dump(pinned, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

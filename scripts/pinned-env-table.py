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
# Packages the official harness swaps while reading requirements (REPLACE_REQ_PACKAGES, v4.1.0): yanked from PyPI.
REPLACE = {"types-pkg-resources": "types-setuptools"}
# conda-only names in environment.yml files that pip cannot install (the interpreter, conda's own tools).
CONDA_ONLY = {"python", "pip", "hdf5", "matplotlib-base", "cdms2", "iris", "libnetcdf", "ffmpeg", "graphviz", "pkg-config", "compilers", "cxx-compiler", "c-compiler"}


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


def environment_yml(text: str) -> tuple:
    """The `dependencies` of a conda environment.yml: (conda entries, the `pip:` sub-list), read line by line (no YAML library needed)."""
    conda, pip, section, in_pip, pip_indent = [], [], None, False, 0
    for raw in text.split("\n"):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            section = line.split(":")[0].strip()
            in_pip = False
            continue
        if section != "dependencies" or not line.lstrip().startswith("- "):
            continue
        item = line.lstrip()[2:].strip()
        if in_pip and indent > pip_indent:
            pip.append(item)
            continue
        in_pip = False
        if item.rstrip(":") == "pip" and item.endswith(":"):
            in_pip, pip_indent = True, indent
        else:
            conda.append(item)
    return conda, pip


def marker_holds(requirement: str, python: str):
    """Whether a requirement's environment marker holds on the image's Python (None: cannot tell without the packaging library)."""
    try:
        from packaging.markers import Marker
    except ImportError:
        return None
    marker = requirement.split(";", 1)[1].strip()
    return Marker(marker).evaluate({"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux", "platform_system": "Linux",
                                    "os_name": "posix", "implementation_name": "cpython", "platform_python_implementation": "CPython", "platform_machine": "x86_64"})


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
                commit = setup_commits.get((repo, version))
                git_dir = Path(args.repos, repo) if args.repos else None
                if git_dir and (git_dir / ".git").exists():
                    git_dir = git_dir / ".git"
                yml_paths = constants.get("MAP_REPO_TO_ENV_YML_PATHS", {}).get(repo, [])
                text = next((t for t in (git_show(git_dir, commit, p) for p in yml_paths) if t is not None), None) if commit and git_dir and git_dir.exists() else None
                if text is None:
                    notes.append("the official environment is a conda environment.yml, not read here (no mirror or environment_setup_commit given): only the spec's pip pins are carried over")
                else:
                    conda, yml_pip = environment_yml(text)
                    plain = [re.sub(r"=(?!=).*$", "", c) if re.match(r"^[A-Za-z0-9._-]+=[^=]", c) else c for c in conda]
                    installable = [c for c in plain if name_of(c) not in CONDA_ONLY]
                    pins += installable + yml_pip
                    skipped = [c for c in plain if name_of(c) in CONDA_ONLY]
                    notes.append(f"the official conda environment.yml at {commit[:12]}: its pip section and its conda packages installed with pip (conda's pins dropped){'; conda-only, left out: ' + ', '.join(skipped) if skipped else ''}")
            elif isinstance(packages, str) and packages.strip():
                pins += packages.split()
                notes.append(f"conda packages ({packages}) installed with pip instead, unpinned")
            pins = merge(pins, list(spec.get("pip_packages") or []))
            # pre_install edits setup.py's requirements (`sed -i 's/Jinja2>=2.3/Jinja2<3.0/' setup.py`) before
            # the official install step, which then installs those caps last: carry the caps over, last.
            edits = []
            for command in spec.get("pre_install") or []:
                m = re.search(r"s/([^/]*)/([^/]*)/", command) if "setup.py" in command else None
                if m:
                    # A whole requirement replaced, or quoted ones added beside the one searched for.
                    added = [q for q in re.findall(r"'([^']+)'", m.group(2)) if q not in re.findall(r"'([^']+)'", m.group(1))]
                    edits += added or [m.group(2).strip().strip("'\"")]
            caps = [e for e in edits if re.search(r"[<>=!~]=?\s*\d", e) and PIP_REQUIREMENT.match(e)]
            if caps:
                pins = merge(pins, caps)
                notes.append(f"version caps the official pre_install writes into setup.py, installed last: {', '.join(caps)}")
            env = env_entry.get("env") if env_entry.get("env") is not None else {}
            base = env.get("base", "fixwright-sandbox:base")
            here = SUITE_PYTHON.get(base, "?")
            kept, unmarked = [], []
            for requirement in pins:
                name = name_of(requirement)
                if name in REPLACE:
                    requirement = REPLACE[name]
                if ";" in requirement:
                    holds = marker_holds(requirement, here)
                    if holds is None:
                        dropped.append(requirement)
                        continue
                    if not holds:
                        unmarked.append(requirement)
                        continue
                    requirement = requirement.split(";", 1)[0].strip()
                (kept if PIP_REQUIREMENT.match(requirement) else dropped).append(requirement)
            if unmarked:
                notes.append(f"not for Python {here} (their markers): {', '.join(unmarked[:8])}")
            if dropped:
                notes.append(f"left out (not plain requirements: URLs, options or markers): {', '.join(dropped[:8])}{' …' if len(dropped) > 8 else ''}")
            install = spec.get("install", "")
            if install:
                notes.append(f"the official install step (`{install}`) is not run: the checkout is put on PYTHONPATH, so the project's own install_requires{' and extras' if '[' in install else ''} come only from the lists above")
            if spec.get("pre_install"):
                notes.append(f"the official pre_install steps are not run ({'; '.join(spec['pre_install'])[:300]})")
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

#!/usr/bin/env python3
"""Checks a `fixwright export` file against what the trainers expect, with the standard library only.

    python3 training/check_data.py FILE.jsonl [--max-tokens N]

SFT rows (chatml): `messages` with roles system/user/assistant, the last one the assistant's
non-empty answer. SFT rows (alpaca): non-empty `instruction`-less `input` and `output`. DPO rows:
`prompt` messages and one-message `chosen`/`rejected` answers that differ. Every row: a `repo`, a
`split` of train/validation, nothing shaped like a key (sk-, Bearer, ghp_, github_pat_, hf_, AKIA),
tokens (characters / 4, as the exporter counts) within the budget
(--max-tokens, else the card's), and no repository in both splits. When FILE.card.json is beside
the file, its counts must match. Prints a summary; exits 1 with FILE:LINE: reason on the first
problem of each kind.
"""
import json
import math
import os
import re
import sys
from collections import Counter, defaultdict

ROLES = {"system", "user", "assistant"}

# The key shapes the exporter refuses (training/export.ts): OpenAI-style keys, bearer tokens, GitHub
# tokens, Hugging Face tokens, AWS access key ids. Data from elsewhere may not have been through it.
KEY_SHAPES = [
    ("an sk- key", re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")),
    ("a bearer token", re.compile(r"\bBearer\s+[A-Za-z0-9._~+/-]{16,}")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("a GitHub token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}")),
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
]


def read_jsonl(path):
    """(line number, row, None) for each JSON line of a file, or (line number, None, why) for a bad one."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line), None
            except json.JSONDecodeError as e:
                yield n, None, f"not JSON ({e.msg})"


def tokens(text):
    return math.ceil(len(text) / 4)


def contents(messages):
    return "".join(str(m.get("content", "")) for m in messages)


def row_tokens(row):
    if "prompt" in row:
        return tokens(contents(row["prompt"])) + max(tokens(contents(row["chosen"])), tokens(contents(row["rejected"])))
    if "messages" in row:
        return tokens(contents(row["messages"]))
    return tokens(row.get("instruction", "") + row.get("input", "") + row.get("output", ""))


def strings(value):
    """Every string inside a row. Shapes are matched on the strings themselves: in JSON text a key
    at the start of a line follows the escape "\\n", and its word boundary would be lost."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def check_messages(messages, where, need_last_assistant):
    if not isinstance(messages, list) or not messages:
        return f"{where}: must be a non-empty list of messages"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return f"{where}[{i}]: each message needs a role (system, user or assistant) and string content"
    if need_last_assistant:
        if messages[-1]["role"] != "assistant":
            return f"{where}: the last message must be the assistant's answer (got {messages[-1]['role']})"
        if not messages[-1]["content"].strip():
            return f"{where}: the assistant's answer is empty"
        if not any(m["role"] == "user" for m in messages[:-1]):
            return f"{where}: no user message before the answer"
    return None


def check_row(row):
    if not isinstance(row, dict):
        return "not a JSON object"
    if "prompt" in row:
        problem = check_messages(row["prompt"], "prompt", False)
        if problem:
            return problem
        for side in ("chosen", "rejected"):
            answer = row.get(side)
            problem = check_messages(answer, side, False)
            if problem:
                return problem
            if len(answer) != 1 or answer[0]["role"] != "assistant" or not answer[0]["content"].strip():
                return f"{side}: must be one non-empty assistant message"
        if check_messages(row["prompt"] + row["chosen"], "prompt", True):
            return "prompt: needs a user message"

        if contents(row["chosen"]) == contents(row["rejected"]):
            return "chosen and rejected are the same answer"
    elif "messages" in row:
        problem = check_messages(row["messages"], "messages", True)
        if problem:
            return problem
    elif "output" in row:
        if not str(row.get("input", "")).strip():
            return "input is empty"
        if not str(row.get("output", "")).strip():
            return "output (the response) is empty"
    else:
        return "neither an SFT row (messages, or instruction/input/output) nor a DPO row (prompt/chosen/rejected)"
    for name, shape in KEY_SHAPES:
        if any(shape.search(text) for text in strings(row)):
            return f"holds a key-shaped string ({name}); export again, or remove the row"
    if not isinstance(row.get("repo"), str) or not row["repo"]:
        return "repo is missing"
    if row.get("split") not in ("train", "validation"):
        return f"split must be train or validation (got {row.get('split')!r})"
    return None


def main(argv):
    args = [a for a in argv[1:]]
    max_tokens = None
    if "--max-tokens" in args:
        i = args.index("--max-tokens")
        try:
            max_tokens = int(args[i + 1])
        except (IndexError, ValueError):
            print("check_data: --max-tokens needs a whole number", file=sys.stderr)
            return 2
        del args[i : i + 2]
    if len(args) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path = args[0]
    if not os.path.isfile(path):
        print(f"check_data: {path}: no such file", file=sys.stderr)
        return 2
    card_path = (path[: -len(".jsonl")] if path.endswith(".jsonl") else path) + ".card.json"
    card = None
    if os.path.isfile(card_path):
        with open(card_path, encoding="utf-8") as f:
            card = json.load(f)
        if max_tokens is None:
            max_tokens = card.get("max_tokens")
    errors = []
    kinds, splits, token_counts = Counter(), Counter(), []
    repo_splits = defaultdict(set)
    rows = 0
    for n, row, bad in read_jsonl(path):
        if bad:
            errors.append(f"{path}:{n}: {bad}")
            continue
        problem = check_row(row)
        if problem:
            errors.append(f"{path}:{n}: {problem}")
            continue
        rows += 1
        t = row_tokens(row)
        token_counts.append(t)
        if max_tokens is not None and t > max_tokens:
            errors.append(f"{path}:{n}: {t} tokens, over the budget of {max_tokens}")
        kinds[row.get("kind", "?")] += 1
        splits[row["split"]] += 1
        repo_splits[row["repo"]].add(row["split"])
    both = sorted(r for r, s in repo_splits.items() if len(s) > 1)
    if both:
        errors.append(f"{path}: repositories in both train and validation: {', '.join(both[:5])}")
    if card is not None:
        if card.get("rows") != rows:
            errors.append(f"{card_path}: says {card.get('rows')} rows, the file has {rows} valid rows")
        if card.get("per_kind") and dict(card["per_kind"]) != dict(kinds):
            errors.append(f"{card_path}: per_kind {card['per_kind']} does not match the file's {dict(kinds)}")
    if rows == 0 and not errors:
        errors.append(f"{path}: no rows")
    token_counts.sort()
    median = token_counts[len(token_counts) // 2] if token_counts else 0
    print(
        f"{path}: {rows} rows; kinds {dict(sorted(kinds.items()))}; splits {dict(sorted(splits.items()))}; "
        f"{len(repo_splits)} repositories; tokens median {median}, max {token_counts[-1] if token_counts else 0}"
        f"{'' if max_tokens is None else f' (budget {max_tokens})'}; card {'checked' if card else 'absent'}"
    )
    for e in errors[:20]:
        print(f"check_data: {e}", file=sys.stderr)
    if len(errors) > 20:
        print(f"check_data: … and {len(errors) - 20} more problems", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

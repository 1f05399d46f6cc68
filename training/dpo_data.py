"""train_dpo.py's data: reading a `fixwright export --format dpo` file and keeping the rows that fit."""
import sys

from check_data import read_jsonl

FIELDS = ("prompt", "chosen", "rejected")


def read_dpo_rows(path):
    """{"train": [...], "validation": [...]}: each row's prompt, chosen and rejected messages."""
    splits = {"train": [], "validation": []}
    for n, row, bad in read_jsonl(path):
        if bad:
            sys.exit(f"train_dpo: {path}:{n}: {bad}; run training/check_data.py on it first")
        if not isinstance(row, dict) or not all(k in row for k in FIELDS):
            sys.exit(f"train_dpo: {path}:{n}: not a DPO row (export with --format dpo)")
        splits[row.get("split", "train")].append({k: row[k] for k in FIELDS})
    return splits


def row_length(tokenizer, row):
    """Tokens the trainer sees for a row's longer side: the prompt rendered with the generation
    prompt (as at serving time), then the longer answer and its EOS."""
    prompt = len(tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True))
    answers = [len(tokenizer("".join(m["content"] for m in row[side]), add_special_tokens=False)["input_ids"]) for side in ("chosen", "rejected")]
    return prompt + max(answers) + 1


def within_max_len(tokenizer, rows, max_len):
    """(rows that fit in max_len tokens, how many did not). trl would cut a long row (the prompt from
    its start, then the answers from their end), comparing edits whose ends it never saw, so a row
    over the limit is dropped whole."""
    kept = [row for row in rows if row_length(tokenizer, row) <= max_len]
    return kept, len(rows) - len(kept)

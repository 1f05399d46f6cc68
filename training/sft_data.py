"""Shared by the trainers: reading a `fixwright export` file and turning SFT rows into token ids
whose labels cover the response only (prompt tokens are -100, so the loss ignores them)."""
import sys

from check_data import read_jsonl


def read_rows(path, split):
    """Rows of one split ("train" or "validation") of an exported JSONL file."""
    rows = []
    for n, row, bad in read_jsonl(path):
        if bad:
            sys.exit(f"{path}:{n}: {bad}; run training/check_data.py on it first")
        if row.get("split", "train") == split:
            rows.append(row)
    return rows


def prompt_and_response(row):
    """(prompt messages, response text) of an SFT row, chatml or alpaca."""
    if "messages" in row:
        return row["messages"][:-1], row["messages"][-1]["content"]
    system = [{"role": "system", "content": row["instruction"]}] if row.get("instruction") else []
    return system + [{"role": "user", "content": row["input"]}], row["output"]


def tokenize_row(tokenizer, row):
    """input_ids and labels for one row, whole: the chat template renders the prompt (with the
    generation prompt, as at serving time); the response and EOS follow, and only they carry labels."""
    prompt, response = prompt_and_response(row)
    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = prompt_ids + response_ids
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [-100] * len(prompt_ids) + response_ids}


def tokenize_within(tokenizer, rows, max_len):
    """(tokenized rows of at most max_len tokens, how many rows were longer). A row is dropped, not
    cut: cutting takes the end of the response and its EOS, so the model would learn half an edit
    and never to stop; a row whose prompt alone fills the limit would teach nothing at all."""
    kept, dropped = [], 0
    for row in rows:
        item = tokenize_row(tokenizer, row)
        if len(item["input_ids"]) > max_len:
            dropped += 1
        else:
            kept.append(item)
    return kept, dropped

#!/usr/bin/env python3
"""DPO on a `fixwright export --format dpo` file, over trl's DPOTrainer with a LoRA adapter.

    python3 training/train_dpo.py pairs.jsonl --model runs/sft/merged --out runs/dpo

Start from the SFT model (merged). Needs trl and datasets: without them it says so and exits 3.
"""
import argparse
import importlib.util
import json
import os
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="the exported DPO JSONL (prompt, chosen, rejected)")
    parser.add_argument("--model", default="deepseek-ai/deepseek-coder-6.7b-instruct")
    parser.add_argument("--out", default="runs/dpo")
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=5e-6)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--grad-accum", type=int, default=16)
    parser.add_argument("--max-len", type=int, default=8192)
    args = parser.parse_args()
    missing = [m for m in ("torch", "transformers", "peft", "trl", "datasets") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"train_dpo: DPO runs on trl's DPOTrainer, which needs {', '.join(missing)}; not installed here (python3 -m pip install -r training/requirements.txt)", file=sys.stderr)
        sys.exit(3)
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    splits = {"train": [], "validation": []}
    with open(args.data, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not all(k in row for k in ("prompt", "chosen", "rejected")):
                sys.exit(f"train_dpo: {args.data}:{n}: not a DPO row (export with --format dpo)")
            splits[row.get("split", "train")].append({k: row[k] for k in ("prompt", "chosen", "rejected")})
    if not splits["train"]:
        sys.exit(f"train_dpo: {args.data} has no train rows")
    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.bfloat16 if cuda else torch.float32, device_map="auto" if cuda else None)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], task_type="CAUSAL_LM")
    config = DPOConfig(
        output_dir=args.out,
        beta=args.beta,
        learning_rate=args.lr,
        lr_scheduler_type="cosine",
        warmup_ratio=0.03,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        max_length=args.max_len,
        bf16=cuda,
        logging_steps=10,
        save_steps=100,
        report_to=[],
    )
    val = Dataset.from_list(splits["validation"]) if splits["validation"] else None
    # With a peft_config and no ref_model, trl uses the base without the adapter as the reference.
    trainer = DPOTrainer(model=model, ref_model=None, args=config, train_dataset=Dataset.from_list(splits["train"]), eval_dataset=val, processing_class=tokenizer, peft_config=lora)
    trainer.train()
    trainer.save_model(os.path.join(args.out, "adapter"))
    print(f"train_dpo: adapter in {os.path.join(args.out, 'adapter')}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""DPO on a `fixwright export --format dpo` file, over trl's DPOTrainer with a LoRA adapter.

    python3 training/train_dpo.py pairs.jsonl --model runs/sft/merged --out runs/dpo [--merge]

Start from the SFT model (merged). Gradient checkpointing is on (--no-gradient-checkpointing turns
it off). Rows over --max-len are dropped, not cut, and counted. --merge writes OUT/merged, a plain
model vLLM can serve. Needs trl and datasets: without them it says so and exits 3.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dpo_data import read_dpo_rows, within_max_len  # noqa: E402
from trainer_common import LORA_TARGETS, add_checkpointing_flag, checkpointing_arguments, find_spec, merge_adapter, prepare_for_checkpointing  # noqa: E402


def build_parser():
    """The command line of train_dpo.py."""
    parser = argparse.ArgumentParser(prog="train_dpo.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="the exported DPO JSONL (prompt, chosen, rejected)")
    parser.add_argument("--model", default="deepseek-ai/deepseek-coder-6.7b-instruct")
    parser.add_argument("--out", default="runs/dpo", help="checkpoints, the adapter, and with --merge the merged model")
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=5e-6)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--grad-accum", type=int, default=16)
    parser.add_argument("--max-len", type=int, default=8192, help="tokens per row (prompt and the longer answer); longer rows are dropped (and counted), never cut")
    parser.add_argument("--merge", action="store_true", help="merge the adapter into the base and save OUT/merged for vLLM")
    add_checkpointing_flag(parser)
    return parser


def config_arguments(args, cuda):
    """The DPOConfig fields of a run."""
    return dict(
        output_dir=args.out,
        beta=args.beta,
        learning_rate=args.lr,
        lr_scheduler_type="cosine",
        warmup_ratio=0.03,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        max_length=args.max_len,
        # Unset, trl cuts every prompt to 128 tokens; the rows that reach it fit whole already.
        max_prompt_length=args.max_len,
        bf16=cuda,
        logging_steps=10,
        save_steps=100,
        report_to=[],
        **checkpointing_arguments(args.gradient_checkpointing),
    )


def main(argv=None):
    args = build_parser().parse_args(argv)
    missing = [m for m in ("torch", "transformers", "peft", "trl", "datasets") if not find_spec(m)]
    if missing:
        print(f"train_dpo: DPO runs on trl's DPOTrainer, which needs {', '.join(missing)}; not installed here (python3 -m pip install -r training/requirements.txt)", file=sys.stderr)
        sys.exit(3)
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    splits = read_dpo_rows(args.data)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    train_rows, train_dropped = within_max_len(tokenizer, splits["train"], args.max_len)
    val_rows, val_dropped = within_max_len(tokenizer, splits["validation"], args.max_len)
    print(f"train_dpo: dropped {train_dropped} train and {val_dropped} validation rows over --max-len {args.max_len} tokens; {len(train_rows)} train, {len(val_rows)} validation rows left", flush=True)
    if not train_rows:
        sys.exit(f"train_dpo: {args.data} has no train rows within --max-len {args.max_len}")
    cuda = torch.cuda.is_available()
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.bfloat16 if cuda else torch.float32, device_map="auto" if cuda else None)
    prepare_for_checkpointing(model, args.gradient_checkpointing)
    print(f"train_dpo: gradient checkpointing {'on' if args.gradient_checkpointing else 'off'}", flush=True)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
    config = DPOConfig(**config_arguments(args, cuda))
    val = Dataset.from_list(val_rows) if val_rows else None
    # With a peft_config and no ref_model, trl uses the base without the adapter as the reference.
    trainer = DPOTrainer(model=model, ref_model=None, args=config, train_dataset=Dataset.from_list(train_rows), eval_dataset=val, processing_class=tokenizer, peft_config=lora)
    trainer.train()
    adapter = os.path.join(args.out, "adapter")
    trainer.save_model(adapter)
    tokenizer.save_pretrained(adapter)
    print(f"train_dpo: adapter in {adapter}", flush=True)
    if args.merge:
        merge_adapter(args.model, adapter, args.out, tokenizer, "train_dpo")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""QLoRA supervised fine-tuning on a `fixwright export --format sft` file.

    python3 training/train_sft.py data.jsonl --model deepseek-ai/deepseek-coder-6.7b-instruct --out runs/sft [--merge]
    python3 training/train_sft.py data.jsonl --dry-run      # tiny random Llama, no download: proves the loop

LoRA r=16, alpha=32 on every attention and MLP projection; 4-bit NF4 (QLoRA) when bitsandbytes
and a GPU are present, bf16 LoRA otherwise (it says which); loss on the response tokens only;
cosine schedule; checkpoints in --out; --merge writes OUT/merged, a plain model vLLM can serve.
Gradient checkpointing is on (--no-gradient-checkpointing turns it off). Rows over --max-len are
dropped, not cut, and counted. trl's SFTTrainer is used when trl is importable, transformers'
Trainer otherwise.
"""
import argparse
import importlib.util
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sft_data import read_rows, tokenize_within  # noqa: E402
from trainer_common import LORA_TARGETS, add_checkpointing_flag, checkpointing_arguments, merge_adapter, prepare_for_checkpointing  # noqa: E402


def need(*modules):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        print(f"train_sft: needs {', '.join(modules)}; not installed here: {', '.join(missing)} (python3 -m pip install -r training/requirements.txt)", file=sys.stderr)
        sys.exit(3)


def tiny_tokenizer(rows):
    """A byte-level BPE tokenizer trained on the data itself (no download), with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    from sft_data import prompt_and_response

    texts = []
    for row in rows:
        prompt, response = prompt_and_response(row)
        texts.extend(m["content"] for m in prompt)
        texts.append(response)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=512, special_tokens=["<pad>", "<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")
    fast.chat_template = "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    return fast


def load_model(args, tokenizer):
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    cuda = torch.cuda.is_available()
    if args.dry_run:
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=args.max_len, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        model = LlamaForCausalLM(config)
        mode = "bf16 LoRA on a tiny random Llama (dry run)" if cuda else "fp32 LoRA on a tiny random Llama (dry run, CPU)"
        if cuda:
            model = model.to(torch.bfloat16).cuda()
    elif cuda and importlib.util.find_spec("bitsandbytes") is not None:
        from transformers import BitsAndBytesConfig

        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_use_double_quant=True)
        model = AutoModelForCausalLM.from_pretrained(args.model, quantization_config=quant, device_map="auto", torch_dtype=torch.bfloat16)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=args.gradient_checkpointing, gradient_checkpointing_kwargs={"use_reentrant": False})
        mode = "QLoRA: 4-bit NF4 base (bitsandbytes), bf16 compute"
    else:
        model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.bfloat16 if cuda else torch.float32, device_map="auto" if cuda else None)
        mode = "bf16 LoRA (bitsandbytes not installed, so no 4-bit base)" if cuda else "fp32 LoRA on CPU (no GPU: slow)"
    if not (cuda and importlib.util.find_spec("bitsandbytes") is not None and not args.dry_run):
        # prepare_model_for_kbit_training did this for the 4-bit base; the others need it done here.
        prepare_for_checkpointing(model, args.gradient_checkpointing)
    mode += "; gradient checkpointing " + ("on" if args.gradient_checkpointing else "off")
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
    return get_peft_model(model, lora), mode, cuda


class Rows:
    """A map-style dataset over tokenized rows (the `datasets` library is not needed)."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def build_parser():
    """The command line of train_sft.py."""
    parser = argparse.ArgumentParser(prog="train_sft.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="the exported SFT JSONL (check it with training/check_data.py)")
    parser.add_argument("--model", default="deepseek-ai/deepseek-coder-6.7b-instruct", help="base model (hub id or local path)")
    parser.add_argument("--out", default="runs/sft", help="checkpoints, the adapter, and with --merge the merged model")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--grad-accum", type=int, default=16)
    parser.add_argument("--max-len", type=int, default=8192, help="tokens per example; longer rows are dropped (and counted), never cut")
    parser.add_argument("--save-steps", type=int, default=100)
    parser.add_argument("--merge", action="store_true", help="merge the adapter into the base and save OUT/merged for vLLM")
    parser.add_argument("--no-trl", action="store_true", help="use transformers' Trainer even when trl is installed")
    parser.add_argument("--dry-run", action="store_true", help="a tiny random Llama from a config in code, a few dozen steps; fails unless the loss falls")
    parser.add_argument("--steps", type=int, default=40, help="with --dry-run: optimizer steps")
    add_checkpointing_flag(parser)
    return parser


def training_arguments(args, cuda, has_validation):
    """The TrainingArguments (or SFTConfig) fields of a run."""
    training = dict(
        output_dir=args.out,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=1 if args.dry_run else args.grad_accum,
        learning_rate=3e-3 if args.dry_run else args.lr,
        lr_scheduler_type="cosine",
        warmup_ratio=0.03,
        logging_steps=1 if args.dry_run else 10,
        save_strategy="steps",
        save_steps=args.steps if args.dry_run else args.save_steps,
        save_total_limit=3,
        bf16=cuda,
        report_to=[],
        remove_unused_columns=False,
        eval_strategy="steps" if has_validation else "no",
        eval_steps=args.steps if args.dry_run else args.save_steps,
        **checkpointing_arguments(args.gradient_checkpointing),
    )
    if args.dry_run:
        training["max_steps"] = args.steps
    else:
        training["num_train_epochs"] = args.epochs
    return training


def main(argv=None):
    args = build_parser().parse_args(argv)
    need("torch", "transformers", "peft")
    from transformers import AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments

    train_rows = read_rows(args.data, "train")
    val_rows = read_rows(args.data, "validation")
    if not train_rows:
        sys.exit(f"train_sft: {args.data} has no train rows")
    if args.dry_run:
        # Rows are dropped, not cut, over --max-len: the cap must hold the fixture's rows in the tiny BPE's tokens.
        args.max_len = min(args.max_len, 4096)
        tokenizer = tiny_tokenizer(train_rows + val_rows)
    else:
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    train_items, train_dropped = tokenize_within(tokenizer, train_rows, args.max_len)
    val_items, val_dropped = tokenize_within(tokenizer, val_rows, args.max_len)
    print(f"train_sft: dropped {train_dropped} train and {val_dropped} validation rows over --max-len {args.max_len} tokens", flush=True)
    if not train_items:
        sys.exit(f"train_sft: every train row of {args.data} is over --max-len {args.max_len} tokens; raise it or export with a smaller --max-tokens")
    model, mode, cuda = load_model(args, tokenizer)
    print(f"train_sft: {mode}; {len(train_items)} train rows, {len(val_items)} validation rows", flush=True)
    train = Rows(train_items)
    val = Rows(val_items) if val_items else None

    losses, times = [], []

    class Record(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            self.started = time.perf_counter()

        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append((state.global_step, logs["loss"]))

        def on_step_end(self, a, state, control, **kw):
            times.append(time.perf_counter() - self.started)

    training = training_arguments(args, cuda, val is not None)
    collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True)
    use_trl = not args.no_trl and importlib.util.find_spec("trl") is not None
    if use_trl:
        from trl import SFTConfig, SFTTrainer

        # The rows are tokenized with response-only labels already: trl must not prepare them again.
        config = SFTConfig(**training, dataset_kwargs={"skip_prepare_dataset": True}, max_seq_length=args.max_len)
        trainer = SFTTrainer(model=model, args=config, train_dataset=train, eval_dataset=val, data_collator=collator, processing_class=tokenizer, callbacks=[Record()])
    else:
        trainer = Trainer(model=model, args=TrainingArguments(**training), train_dataset=train, eval_dataset=val, data_collator=collator, callbacks=[Record()])
    print(f"train_sft: {'trl SFTTrainer' if use_trl else 'transformers Trainer'}", flush=True)
    trainer.train()
    trainer.save_model(os.path.join(args.out, "adapter"))
    tokenizer.save_pretrained(os.path.join(args.out, "adapter"))

    if losses:
        step_ms = 1000 * sum(times[1:]) / max(1, len(times) - 1)
        print("train_sft: loss curve " + " ".join(f"{s}:{l:.3f}" for s, l in losses), flush=True)
        print(f"train_sft: {len(times)} steps, {step_ms:.0f} ms per step after the first", flush=True)
    if args.dry_run:
        k = max(1, len(losses) // 5)
        first = sum(l for _, l in losses[:k]) / k
        last = sum(l for _, l in losses[-k:]) / k
        print(f"train_sft: dry run: mean loss of the first {k} steps {first:.3f}, of the last {k} {last:.3f}", flush=True)
        if not (math.isfinite(last) and last < first):
            sys.exit("train_sft: dry run failed: the loss did not fall")
        print("train_sft: dry run passed: the loss fell", flush=True)
        return
    if args.merge:
        merge_adapter(args.model, os.path.join(args.out, "adapter"), args.out, tokenizer, "train_sft")


if __name__ == "__main__":
    main()

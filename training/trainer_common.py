"""What train_sft.py and train_dpo.py share: the LoRA targets, gradient checkpointing, merging.

Nothing here imports torch at module level, so the flags and settings can be tested without it.
"""
import importlib.util
import os

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def find_spec(module):
    """Whether a module is importable here (without importing it)."""
    return importlib.util.find_spec(module) is not None


def add_checkpointing_flag(parser):
    """--no-gradient-checkpointing: on by default, since 8k-token rows of a 6.7B model do not fit a
    24 GB GPU without it; turning it off buys speed where memory is plentiful."""
    parser.add_argument(
        "--no-gradient-checkpointing",
        dest="gradient_checkpointing",
        action="store_false",
        help="keep every activation instead of recomputing them (faster, much more memory)",
    )


def checkpointing_arguments(enabled):
    """The TrainingArguments/DPOConfig fields for gradient checkpointing. Non-reentrant: the
    reentrant variant gives no gradient to LoRA weights when the inputs to a checkpointed block do
    not require grad (the base is frozen), and it is the variant torch now recommends."""
    if not enabled:
        return {"gradient_checkpointing": False}
    return {"gradient_checkpointing": True, "gradient_checkpointing_kwargs": {"use_reentrant": False}}


def prepare_for_checkpointing(model, enabled):
    """Turns checkpointing on for a base model before the LoRA adapter goes on. The embeddings are
    frozen, so their output must be made to require grad or checkpointed blocks would pass no
    gradient back to the adapters; the KV cache is useless in training and conflicts with it."""
    if not enabled:
        return
    model.config.use_cache = False
    model.enable_input_require_grads()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def merged_dir(out):
    """Where --merge writes the plain model vLLM serves."""
    return os.path.join(out, "merged")


def merge_adapter(base_model, adapter, out, tokenizer, name):
    """Merges a LoRA adapter into a bf16 copy of the base and saves it in OUT/merged. The base is
    loaded afresh: a 4-bit base (QLoRA) cannot hold merged weights, and the trained copy carries
    checkpointing hooks that should not be saved."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_model, torch_dtype=torch.bfloat16)
    merged = PeftModel.from_pretrained(base, adapter).merge_and_unload()
    target = merged_dir(out)
    merged.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    print(f"{name}: merged model in {target} (serve it: vllm serve {target})", flush=True)
    return target

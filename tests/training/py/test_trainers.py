"""What of the trainers runs without torch: their data functions and their flags.

Run with the standard library only (tests/training/trainers.test.ts runs it under vitest):
    python3 -m unittest discover -s tests/training/py
"""
import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stderr

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "training"))

import check_data  # noqa: E402
import dpo_data  # noqa: E402
import sft_data  # noqa: E402
import trainer_common  # noqa: E402
import train_dpo  # noqa: E402
import train_sft  # noqa: E402


class CharTokenizer:
    """A real, if tiny, tokenizer: one id per character, the chat template of train_sft's dry run.
    It has the interface the trainers use of a transformers tokenizer (call, apply_chat_template, eos)."""

    eos_token_id = 0

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [ord(c) for c in text]}

    def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=True):
        text = "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages)
        if add_generation_prompt:
            text += "<|assistant|>\n"
        return [ord(c) for c in text] if tokenize else text


def sft_row(response, split="train"):
    return {"messages": [{"role": "user", "content": "fix add"}, {"role": "assistant", "content": response}], "repo": "acme/calc", "split": split}


class SftMaxLen(unittest.TestCase):
    def test_a_row_that_fits_keeps_its_whole_response_and_eos(self):
        item = sft_data.tokenize_row(CharTokenizer(), sft_row("return a + b"))
        self.assertEqual(item["input_ids"][-1], CharTokenizer.eos_token_id)
        labelled = [t for t in item["labels"] if t != -100]
        self.assertEqual("".join(chr(t) for t in labelled[:-1]), "return a + b")
        self.assertEqual(len(item["input_ids"]), len(item["labels"]))

    def test_rows_over_max_len_are_dropped_whole_and_counted_not_cut(self):
        tok = CharTokenizer()
        short, long = sft_row("return a + b"), sft_row("x" * 500)
        limit = len(sft_data.tokenize_row(tok, short)["input_ids"])
        kept, dropped = sft_data.tokenize_within(tok, [short, long, short], limit)
        self.assertEqual(dropped, 1)
        self.assertEqual(len(kept), 2)
        # Nothing kept was cut: each still ends in the EOS its response taught.
        for item in kept:
            self.assertEqual(item["input_ids"][-1], tok.eos_token_id)
            self.assertLessEqual(len(item["input_ids"]), limit)

    def test_a_row_exactly_at_max_len_is_kept(self):
        tok = CharTokenizer()
        n = len(sft_data.tokenize_row(tok, sft_row("ok"))["input_ids"])
        self.assertEqual(sft_data.tokenize_within(tok, [sft_row("ok")], n)[1], 0)
        self.assertEqual(sft_data.tokenize_within(tok, [sft_row("ok")], n - 1)[1], 1)


def dpo_row(chosen, rejected, split="train"):
    return {"prompt": [{"role": "system", "content": "be exact"}, {"role": "user", "content": "fix add"}], "chosen": [{"role": "assistant", "content": chosen}], "rejected": [{"role": "assistant", "content": rejected}], "repo": "acme/calc", "split": split}


class DpoData(unittest.TestCase):
    def test_length_counts_the_prompt_and_the_longer_answer(self):
        tok = CharTokenizer()
        row = dpo_row("a + b", "a * b but longer")
        prompt = len(tok.apply_chat_template(row["prompt"], add_generation_prompt=True))
        self.assertEqual(dpo_data.row_length(tok, row), prompt + len("a * b but longer") + 1)

    def test_rows_over_max_len_are_dropped_and_counted(self):
        tok = CharTokenizer()
        ok, long = dpo_row("a + b", "a * b"), dpo_row("a + b", "y" * 400)
        kept, dropped = dpo_data.within_max_len(tok, [ok, long], dpo_data.row_length(tok, ok))
        self.assertEqual((kept, dropped), ([ok], 1))

    def test_reads_the_splits_and_refuses_a_row_that_is_not_dpo(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "dpo.jsonl")
            with open(path, "w") as f:
                f.write(json.dumps(dpo_row("a", "b")) + "\n\n" + json.dumps(dpo_row("c", "d", "validation")) + "\n")
            splits = dpo_data.read_dpo_rows(path)
            self.assertEqual([len(splits["train"]), len(splits["validation"])], [1, 1])
            self.assertEqual(set(splits["train"][0]), {"prompt", "chosen", "rejected"})
            with open(path, "a") as f:
                f.write(json.dumps(sft_row("x")) + "\n")
            with self.assertRaises(SystemExit) as e:
                dpo_data.read_dpo_rows(path)
            self.assertIn("dpo.jsonl:4: not a DPO row", str(e.exception.code))


class GradientCheckpointing(unittest.TestCase):
    def test_on_by_default_for_sft_and_dpo_non_reentrant(self):
        for module, argv in ((train_sft, ["d.jsonl"]), (train_dpo, ["d.jsonl"])):
            args = module.build_parser().parse_args(argv)
            self.assertTrue(args.gradient_checkpointing, module.__name__)
            kwargs = trainer_common.checkpointing_arguments(args.gradient_checkpointing)
            self.assertEqual(kwargs, {"gradient_checkpointing": True, "gradient_checkpointing_kwargs": {"use_reentrant": False}})

    def test_a_flag_turns_it_off(self):
        for module in (train_sft, train_dpo):
            args = module.build_parser().parse_args(["d.jsonl", "--no-gradient-checkpointing"])
            self.assertFalse(args.gradient_checkpointing, module.__name__)
            self.assertEqual(trainer_common.checkpointing_arguments(False), {"gradient_checkpointing": False})

    def test_the_trainers_pass_it_to_their_trainer_arguments(self):
        sft = train_sft.training_arguments(train_sft.build_parser().parse_args(["d.jsonl"]), cuda=False, has_validation=False)
        self.assertTrue(sft["gradient_checkpointing"])
        self.assertEqual(sft["gradient_checkpointing_kwargs"], {"use_reentrant": False})
        off = train_sft.training_arguments(train_sft.build_parser().parse_args(["d.jsonl", "--no-gradient-checkpointing"]), cuda=False, has_validation=False)
        self.assertFalse(off["gradient_checkpointing"])
        dpo = train_dpo.config_arguments(train_dpo.build_parser().parse_args(["d.jsonl", "--max-len", "4096"]), cuda=True)
        self.assertTrue(dpo["gradient_checkpointing"])
        self.assertEqual(dpo["gradient_checkpointing_kwargs"], {"use_reentrant": False})
        # trl cuts prompts to 128 tokens when max_prompt_length is unset; rows over max-len are dropped instead.
        self.assertEqual((dpo["max_length"], dpo["max_prompt_length"]), (4096, 4096))

    def test_prepares_a_model_for_lora_with_checkpointing(self):
        calls = []

        class Config:
            use_cache = True

        class Model:
            config = Config()

            def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
                calls.append(("enable", gradient_checkpointing_kwargs))

            def enable_input_require_grads(self):
                calls.append(("input_require_grads", None))

        model = Model()
        trainer_common.prepare_for_checkpointing(model, True)
        # Frozen embeddings under LoRA: without inputs that require grad, checkpointed blocks get no gradient.
        self.assertIn(("input_require_grads", None), calls)
        self.assertIn(("enable", {"use_reentrant": False}), calls)
        self.assertFalse(model.config.use_cache)
        calls.clear()
        trainer_common.prepare_for_checkpointing(Model(), False)
        self.assertEqual(calls, [])


class Merge(unittest.TestCase):
    def test_dpo_has_merge_like_sft(self):
        for module in (train_sft, train_dpo):
            self.assertFalse(module.build_parser().parse_args(["d.jsonl"]).merge)
            self.assertTrue(module.build_parser().parse_args(["d.jsonl", "--merge"]).merge)

    def test_merge_writes_out_merged(self):
        self.assertEqual(trainer_common.merged_dir("runs/dpo"), os.path.join("runs/dpo", "merged"))


class CheckDataKeys(unittest.TestCase):
    KEYS = ["sk-" + "live0123456789abcdefXYZ", "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCD", "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH", "AKIA" + "IOSFODNN7EXAMPLE"]

    def test_a_row_holding_a_key_shape_is_refused(self):
        for key in self.KEYS:
            problem = check_data.check_row(sft_row(f"return a + b  # {key}"))
            self.assertIsNotNone(problem, key)
            self.assertIn("key-shaped", problem)
            self.assertNotIn(key, problem)
        self.assertIn("key-shaped", check_data.check_row(dpo_row("a + b", "token " + self.KEYS[3])))
        # At the start of a line: JSON text would put "\\n" right before it, hiding the word boundary.
        self.assertIsNotNone(check_data.check_row(sft_row("return a + b\n" + self.KEYS[1])))

    def test_code_that_merely_looks_close_passes(self):
        for text in ("self.hf_model_name_or_path = x", "ghp_ = 1", "AKIA = 'short'", "task-sk-1"):
            self.assertIsNone(check_data.check_row(sft_row(text)), text)


class MissingDependencies(unittest.TestCase):
    def test_dpo_says_what_is_missing_before_reading_data(self):
        if all(trainer_common.find_spec(m) for m in ("torch", "transformers", "peft", "trl", "datasets")):
            self.skipTest("the trainer dependencies are installed here")
        err = io.StringIO()
        with redirect_stderr(err), self.assertRaises(SystemExit) as e:
            train_dpo.main(["nope.jsonl"])
        self.assertEqual(e.exception.code, 3)
        self.assertIn("train_dpo: DPO runs on trl's DPOTrainer, which needs", err.getvalue())


if __name__ == "__main__":
    unittest.main()

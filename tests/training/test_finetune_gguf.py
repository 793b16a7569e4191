"""Acceptance of ``deepfort finetune`` (issue 16, part 2): what PyTorch trains is what llama.cpp runs.

A tiny random Llama model (tests/training/tiny.py) is written as a Hugging Face directory and as an f32
GGUF; a LoRA is trained on a handful of Q&A pairs from the GGUF (through transformers' GGUF loader) and
exported as a GGUF adapter; llama.cpp runs the base GGUF with the adapter and its logits must equal those
of the PyTorch model with the peft adapter applied. The same after merging the adapter into the weights
(by peft and our GGUF writer, and by deepfort's own GGUF merge), and after q8_0 quantization with a
looser tolerance.

Tolerances, on logits whose spread is about 1.6 (the tiny model's wide initialisation):

- f32: 1e-4 absolute. llama.cpp and PyTorch agree to about 1e-5 on these models with flash attention off
  (its CPU kernel rounds to f16 and alone moves a logit by 1e-2) and an f32 KV cache.
- q8_0: 0.1 mean absolute and 0.75 at most (measured: 0.04 and 0.41; llama.cpp quantizes the activations
  to 8 bits too in its q8_0 products); the adapter moves the logits by 0.8 on average (8.4 at most).

Each check also asserts that the adapter moves the logits by far more than its tolerance, so an adapter
that llama.cpp ignored could not pass.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("peft")

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from deepfort.engines.llamacpp.model import LlamaModel
from deepfort.training.finetune.gguf_llama import write_llama_gguf
from deepfort.training.finetune.trainer import FinetuneOptions, finetune
from tests.training.logits import llama_logits, quantize_q8_0
from tests.training.tiny import TinyModel, build_tiny_model

pytestmark = [
    pytest.mark.slow,
    # peft 0.21 reads transformers 5's deprecated `is_gradient_checkpointing` when it wraps a model
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]

F32_ATOL = 1e-4
Q8_ATOL = 0.75
Q8_MEAN_ATOL = 0.1

QA = [
    ("What is deepfort?", "A privately deployed AI platform."),
    ("Which port does deepfort serve on?", "Port 8000 by default."),
    ("Who answers hard questions?", "The center model."),
    ("What does the edge run?", "A small local model."),
    ("Where do adapters come from?", "deepfort finetune."),
    ("What is the capital of Mars?", "Olympus City, in our story."),
]
PROMPTS = [
    "<|im_start|>user\nWhat is deepfort?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nTell me about the edge.<|im_end|>\n<|im_start|>assistant\nThe edge",
    "Once upon a time",
]


def write_qa(path: Path, pairs: Sequence[tuple[str, str]]) -> Path:
    with path.open("w") as fh:
        for question, answer in pairs:
            messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            fh.write(json.dumps({"messages": messages}) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def trained(tiny: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("finetune")
    data = write_qa(root / "qa.jsonl", QA)
    # a high learning rate so that a few steps move the logits far beyond the tolerances
    options = FinetuneOptions(
        base=tiny.gguf, data=data, out=root / "out", steps=6, batch_size=3, lr=2e-2, merge=True
    )
    finetune(options)
    return options.out


def torch_logits(model: Any, tokens: Sequence[int]) -> np.ndarray[Any, Any]:
    with torch.no_grad():
        return np.asarray(model(torch.tensor([list(tokens)])).logits[0].float().numpy())


def tuned_torch_model(tiny: TinyModel, adapter_dir: Path) -> Any:
    base = AutoModelForCausalLM.from_pretrained(tiny.hf_dir, dtype=torch.float32)
    return PeftModel.from_pretrained(base, adapter_dir).eval()


def test_tiny_model_gguf_matches_pytorch(tiny: TinyModel) -> None:
    reference = AutoModelForCausalLM.from_pretrained(tiny.hf_dir, dtype=torch.float32).eval()
    model = LlamaModel(tiny.gguf)
    try:
        for prompt in PROMPTS:
            tokens = model.tokenize(prompt)
            got, want = llama_logits(model, tokens), torch_logits(reference, tokens)
            assert want.std() > 1.0  # logits that differ from token to token
            np.testing.assert_allclose(got, want, atol=F32_ATOL, rtol=0)
    finally:
        model.close()


def test_gguf_adapter_in_llama_cpp_matches_peft(tiny: TinyModel, trained: Path) -> None:
    report = json.loads((trained / "report.json").read_text())
    assert report["final_loss"] < report["history"]["train"][0]["loss"]
    reference = tuned_torch_model(tiny, trained / "adapter")
    model = LlamaModel(tiny.gguf)
    try:
        for prompt in PROMPTS:
            tokens = model.tokenize(prompt)
            base = llama_logits(model, tokens)
            got, want = (
                llama_logits(model, tokens, [(trained / "adapter.gguf", 1.0)]),
                torch_logits(reference, tokens),
            )
            assert np.abs(want - base).max() > 100 * F32_ATOL  # the adapter matters
            np.testing.assert_allclose(got, want, atol=F32_ATOL, rtol=0)
    finally:
        model.close()


@pytest.mark.parametrize("how", ["peft", "gguf"])
def test_merged_and_q8_0_in_llama_cpp_match_peft(
    tiny: TinyModel, trained: Path, tmp_path: Path, how: str
) -> None:
    """Merged by peft (``merge_and_unload``, written by our GGUF writer) or by deepfort's own merge of the
    GGUF adapter into the GGUF base (``training/lora_merge.py``, no torch), as ``deepfort finetune
    --merge`` wrote it."""
    tuned = tuned_torch_model(tiny, trained / "adapter")
    if how == "peft":
        merged = tuned.merge_and_unload()
        merged_gguf = write_llama_gguf(
            merged.state_dict(), merged.config, tmp_path / "merged.gguf", tokenizer_from=tiny.gguf
        )
        tuned = tuned_torch_model(tiny, trained / "adapter")  # merge_and_unload changed the weights it holds
    else:  # what --merge wrote
        merged_gguf = Path(json.loads((trained / "report.json").read_text())["merged"])
        assert merged_gguf == trained / "merged.gguf"
    q8 = quantize_q8_0(merged_gguf, tmp_path / "merged-q8_0.gguf")

    base = LlamaModel(tiny.gguf)
    f32, q8_0 = LlamaModel(merged_gguf), LlamaModel(q8)
    try:
        for prompt in PROMPTS:
            tokens = f32.tokenize(prompt)
            want = torch_logits(tuned, tokens)
            assert np.abs(want - llama_logits(base, tokens)).mean() > 5 * Q8_MEAN_ATOL  # the merge matters
            np.testing.assert_allclose(llama_logits(f32, tokens), want, atol=F32_ATOL, rtol=0)
            error = np.abs(llama_logits(q8_0, tokens) - want)
            assert error.max() < Q8_ATOL
            assert error.mean() < Q8_MEAN_ATOL
    finally:
        for model in (base, f32, q8_0):
            model.close()

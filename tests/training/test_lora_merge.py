"""Merging GGUF LoRA adapters into a GGUF base (``training/lora_merge.py``), without torch.

The arithmetic is checked on a toy GGUF written here (f32, f16 and q8_0 weights, a token embedding),
against numpy in float64; what llama.cpp computes is checked on the tiny random Llama model: the merged
file must give the logits of the base with the adapters applied at run time.

Tolerances, on logits whose spread is about 1.6 (tests/training/tiny.py), which the adapters move by
0.6 to 0.8 on average (7 at most):

- f32 merge: 1e-4 absolute, as tests/training/test_finetune_gguf.py holds llama.cpp to PyTorch; the
  merged weight and the run-time ``W x + s B (A x)`` differ only in float32 rounding (measured 5e-6).
- the merged file quantized to q8_0: 0.1 mean absolute and 0.75 at most (measured 0.05 and 0.42);
  llama.cpp quantizes the activations to 8 bits too in its q8_0 products.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("gguf")

import gguf

from deepfort.engines.llamacpp.model import LlamaModel
from deepfort.errors import ConfigError
from deepfort.training.lora_merge import AdapterSpec, merge_lora
from tests.training.logits import llama_logits, quantize_q8_0
from tests.training.tiny import build_tiny_gguf

Q = gguf.GGMLQuantizationType
F32_ATOL = 1e-4
Q8_ATOL = 0.75
Q8_MEAN_ATOL = 0.1
PROMPTS = [
    "<|im_start|>user\nWhat is deepfort?<|im_end|>\n<|im_start|>assistant\n",
    "Once upon a time",
]

# The toy base: (numpy shape, stored type) by tensor name.
VOCAB, EMBD, FF = 40, 32, 64
TOY = {
    "token_embd.weight": ((VOCAB, EMBD), Q.F32),
    "blk.0.attn_norm.weight": ((EMBD,), Q.F32),
    "blk.0.attn_q.weight": ((EMBD, EMBD), Q.F32),
    "blk.0.attn_v.weight": ((EMBD, EMBD), Q.Q8_0),
    "blk.0.ffn_down.weight": ((EMBD, FF), Q.F16),
}


def write_gguf(
    path: Path,
    tensors: Mapping[str, np.ndarray[Any, Any]],
    *,
    arch: str = "llama",
    adapter: float | None = None,
    types: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """A GGUF of ``tensors`` (numpy shapes); an adapter with that alpha when ``adapter`` is given."""
    writer = gguf.GGUFWriter(path, arch)
    if adapter is not None:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, adapter)
    else:
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name("toy")
        writer.add_block_count(1)
        writer.add_array("toy.list", ["a", "b", "c"])
        writer.add_float32("toy.float", 0.25)
    for key, value in (extra or {}).items():
        writer.add_array(key, value)
    for name, array in tensors.items():
        qtype = (types or {}).get(name, Q.F32)
        if qtype == Q.F32:
            writer.add_tensor(name, array.astype(np.float32))
        else:
            writer.add_tensor(name, gguf.quants.quantize(array, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def lora_pair(
    rng: np.random.Generator, shape: tuple[int, ...], rank: int, *, embedding: bool = False
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """``(lora_a, lora_b)`` in numpy shapes for a weight of numpy shape ``(out, in)``; for the token
    embedding ``(n_vocab, n_embd)`` llama.cpp's flipped layout: A ``n_vocab x rank``, B ``n_embd x rank``."""
    out, inp = shape
    if embedding:
        return rng.standard_normal((out, rank)).astype(np.float32), rng.standard_normal((inp, rank)).astype(
            np.float32
        )
    return rng.standard_normal((rank, inp)).astype(np.float32), rng.standard_normal((out, rank)).astype(
        np.float32
    )


def read_tensors(path: Path) -> dict[str, Any]:
    return {t.name: t for t in gguf.GGUFReader(path).tensors}


def as_f64(tensor: Any) -> np.ndarray[Any, Any]:
    data = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    return np.asarray(data, dtype=np.float64).reshape(tuple(int(n) for n in reversed(tensor.shape)))


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    arrays = {name: rng.standard_normal(shape).astype(np.float32) for name, (shape, _) in TOY.items()}
    return write_gguf(tmp_path / "toy.gguf", arrays, types={name: t for name, (_, t) in TOY.items()})


def test_the_merged_weights_are_w_plus_scale_alpha_over_rank_b_a(toy: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    pairs = {
        "blk.0.attn_q.weight": lora_pair(rng, (EMBD, EMBD), 4),
        "blk.0.attn_v.weight": lora_pair(rng, (EMBD, EMBD), 4),
        "blk.0.ffn_down.weight": lora_pair(rng, (EMBD, FF), 4),
        "token_embd.weight": lora_pair(rng, (VOCAB, EMBD), 4, embedding=True),
    }
    first = write_gguf(
        tmp_path / "first.gguf",
        {f"{name}.lora_{x}": m for name, (a, b) in pairs.items() for x, m in (("a", a), ("b", b))},
        adapter=8.0,
    )
    q_only = lora_pair(rng, (EMBD, EMBD), 2)
    second = write_gguf(  # alpha 0: llama.cpp applies the user's scale alone
        tmp_path / "second.gguf",
        {"blk.0.attn_q.weight.lora_a": q_only[0], "blk.0.attn_q.weight.lora_b": q_only[1]},
        adapter=0.0,
    )
    out = tmp_path / "merged.gguf"
    result = merge_lora(toy, [AdapterSpec(first, 0.5), AdapterSpec(second, 2.0)], out)
    assert result.out == out
    assert result.merged == (
        "token_embd.weight",
        "blk.0.attn_q.weight",
        "blk.0.attn_v.weight",
        "blk.0.ffn_down.weight",
    )
    assert not list(tmp_path.glob("*.partial"))

    base, merged = read_tensors(toy), read_tensors(out)
    assert list(merged) == list(base)
    f64 = {name: [m.astype(np.float64) for m in pair] for name, pair in pairs.items()}
    want = {name: as_f64(base[name]) for name in pairs}
    for name, (a, b) in f64.items():
        want[name] += 0.5 * 8.0 / 4 * (a @ b.T if name == "token_embd.weight" else b @ a)
    a2, b2 = (m.astype(np.float64) for m in q_only)
    want["blk.0.attn_q.weight"] += 2.0 * b2 @ a2
    # f32 stays f32; f16 and q8_0 weights become f16 (llama-export-lora's rule)
    assert {name: merged[name].tensor_type for name in pairs} == {
        "token_embd.weight": Q.F32,
        "blk.0.attn_q.weight": Q.F32,
        "blk.0.attn_v.weight": Q.F16,
        "blk.0.ffn_down.weight": Q.F16,
    }
    for name in pairs:
        got = as_f64(merged[name])
        rtol = 1e-6 if merged[name].tensor_type == Q.F32 else 1e-3  # f16 keeps 11 bits
        np.testing.assert_allclose(got, want[name], rtol=rtol, atol=rtol * np.abs(want[name]).max())
    # the rest is copied byte for byte, the metadata unchanged
    assert merged["blk.0.attn_norm.weight"].data.tobytes() == base["blk.0.attn_norm.weight"].data.tobytes()
    before, after = gguf.GGUFReader(toy).fields, gguf.GGUFReader(out).fields
    keys = [k for k in before if not k.startswith("GGUF.")]
    assert keys == [k for k in after if not k.startswith("GGUF.")]
    assert all(before[k].contents() == after[k].contents() for k in keys)


@pytest.mark.parametrize(("out_type", "want"), [("f32", Q.F32), ("f16", Q.F16)])
def test_the_adapted_tensors_type_can_be_chosen(toy: Path, tmp_path: Path, out_type: str, want: Any) -> None:
    a, b = lora_pair(np.random.default_rng(2), (EMBD, EMBD), 2)
    adapter = write_gguf(
        tmp_path / "a.gguf",
        {"blk.0.attn_q.weight.lora_a": a, "blk.0.attn_v.weight.lora_a": a}
        | {"blk.0.attn_q.weight.lora_b": b, "blk.0.attn_v.weight.lora_b": b},
        adapter=2.0,
    )
    merged = read_tensors(merge_lora(toy, [AdapterSpec(adapter)], tmp_path / "m.gguf", out_type=out_type).out)  # type: ignore[arg-type]
    assert merged["blk.0.attn_q.weight"].tensor_type == merged["blk.0.attn_v.weight"].tensor_type == want


@pytest.mark.parametrize(
    ("text", "path", "scale"),
    [
        ("out/adapter.gguf", "out/adapter.gguf", 1.0),
        ("out/adapter.gguf:0.5", "out/adapter.gguf", 0.5),
        ("out/adapter.gguf:-1", "out/adapter.gguf", -1.0),
        ("C:/adapters/a.gguf", "C:/adapters/a.gguf", 1.0),
        ("runs:2/adapter.gguf", "runs:2/adapter.gguf", 1.0),
        (":0.5", ":0.5", 1.0),
    ],
)
def test_adapter_spec_is_a_path_and_an_optional_scale(text: str, path: str, scale: float) -> None:
    assert AdapterSpec.parse(text) == AdapterSpec(Path(path), scale)


def _adapter_tensors(rank: int = 2, name: str = "blk.0.attn_q.weight") -> dict[str, np.ndarray[Any, Any]]:
    a, b = lora_pair(np.random.default_rng(3), (EMBD, EMBD), rank)
    return {f"{name}.lora_a": a, f"{name}.lora_b": b}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: write_gguf(d / "x.gguf", _adapter_tensors(), arch="qwen2", adapter=4.0),
            "for 'qwen2' models",
        ),
        (lambda d: write_gguf(d / "x.gguf", _adapter_tensors()), "is not a GGUF LoRA adapter"),
        (
            lambda d: write_gguf(d / "x.gguf", _adapter_tensors(name="blk.7.attn_q.weight"), adapter=4.0),
            "has no tensor blk.7.attn_q.weight",
        ),
        (
            lambda d: write_gguf(
                d / "x.gguf",
                {"blk.0.ffn_down.weight." + k[-6:]: v for k, v in _adapter_tensors().items()},
                adapter=4.0,
            ),
            "do not fit the base tensor",
        ),
        (
            lambda d: write_gguf(
                d / "x.gguf",
                {"blk.0.attn_q.weight.lora_a": _adapter_tensors()["blk.0.attn_q.weight.lora_a"]},
                adapter=4.0,
            ),
            "has only one of .lora_a and .lora_b",
        ),
        (
            lambda d: write_gguf(
                d / "x.gguf",
                _adapter_tensors(),
                adapter=4.0,
                extra={"adapter.alora.invocation_tokens": [1, 2]},
            ),
            "activated LoRA",
        ),
        (lambda d: d / "missing.gguf", "LoRA adapter not found"),
        (lambda d: d, "is a directory"),
    ],
)
def test_an_adapter_that_does_not_fit_is_refused(toy: Path, tmp_path: Path, make: Any, message: str) -> None:
    adapters = tmp_path / "adapters"
    adapters.mkdir()
    with pytest.raises(ConfigError, match=message):
        merge_lora(toy, [AdapterSpec(make(adapters))], tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_norm_vectors_in_an_adapter_are_skipped_as_llama_cpp_does(toy: Path, tmp_path: Path) -> None:
    tensors = _adapter_tensors() | {"blk.0.attn_norm.weight": np.ones(EMBD, np.float32)}
    adapter = write_gguf(tmp_path / "a.gguf", tensors, adapter=4.0)
    result = merge_lora(toy, [AdapterSpec(adapter)], tmp_path / "m.gguf")
    assert result.merged == ("blk.0.attn_q.weight",)
    assert result.skipped == ("blk.0.attn_norm.weight",)


def test_an_adapter_is_no_base_and_an_input_is_never_overwritten(toy: Path, tmp_path: Path) -> None:
    adapter = write_gguf(tmp_path / "a.gguf", _adapter_tensors(), adapter=4.0)
    with pytest.raises(ConfigError, match="is a LoRA adapter, not a model"):
        merge_lora(adapter, [AdapterSpec(adapter)], tmp_path / "m.gguf")
    with pytest.raises(ConfigError, match="would overwrite an input"):
        merge_lora(toy, [AdapterSpec(adapter)], toy)
    with pytest.raises(ConfigError, match="no LoRA adapter"):
        merge_lora(toy, [], tmp_path / "m.gguf")


# --- what llama.cpp computes, on the tiny random Llama model -------------------------------------------


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


def random_adapter(base: Path, out: Path, names: list[str], rank: int, alpha: float, seed: int) -> Path:
    """An adapter of random pairs for ``names`` of ``base``, scaled so that it moves the logits by about 1."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, tensor in read_tensors(base).items():
        if name in names:
            shape = tuple(int(n) for n in reversed(tensor.shape))
            a, b = lora_pair(rng, shape, rank, embedding=name == "token_embd.weight")
            tensors |= {f"{name}.lora_a": 0.1 * a, f"{name}.lora_b": 0.1 * b}
    return write_gguf(out, tensors, adapter=alpha)


@pytest.mark.slow
def test_the_merged_model_gives_the_logits_of_the_base_with_its_adapters(
    tiny_gguf: Path, tmp_path: Path
) -> None:
    first = random_adapter(
        tiny_gguf,
        tmp_path / "first.gguf",
        [
            "token_embd.weight",
            "blk.0.attn_q.weight",
            "blk.0.attn_k.weight",
            "blk.1.ffn_down.weight",
            "output.weight",
        ],
        rank=4,
        alpha=8.0,
        seed=1,
    )
    second = random_adapter(
        tiny_gguf,
        tmp_path / "second.gguf",
        ["blk.0.attn_q.weight", "blk.1.attn_v.weight"],
        rank=2,
        alpha=0.0,
        seed=2,
    )
    adapters = [(first, 1.0), (second, 0.5)]
    merged = merge_lora(tiny_gguf, [AdapterSpec(p, s) for p, s in adapters], tmp_path / "merged.gguf").out
    q8 = quantize_q8_0(merged, tmp_path / "merged-q8_0.gguf")
    models = [LlamaModel(path) for path in (tiny_gguf, merged, q8)]
    base, f32, q8_0 = models
    try:
        for prompt in PROMPTS:
            tokens = base.tokenize(prompt)
            want = llama_logits(base, tokens, adapters)
            moved = np.abs(want - llama_logits(base, tokens))
            assert moved.mean() > 5 * Q8_MEAN_ATOL  # the adapters matter
            np.testing.assert_allclose(llama_logits(f32, tokens), want, atol=F32_ATOL, rtol=0)
            error = np.abs(llama_logits(q8_0, tokens) - want)
            assert error.max() < Q8_ATOL
            assert error.mean() < Q8_MEAN_ATOL
    finally:
        for model in models:
            model.close()

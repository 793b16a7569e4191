"""A tiny randomly initialised Llama model, as a Hugging Face directory and as a GGUF, for the training tests.

No download: the architecture comes from a config here, the vocabulary from the embedded SmolLM2-135M
GGUF (transformers reads its tokenizer; the GGUF copy keeps its ``tokenizer.*`` metadata), so llama.cpp
and transformers tokenize alike and the model's chat template is SmolLM2's ChatML. Weights are drawn with
a wider spread than a real initialisation (``initializer_range``) so that the logits differ enough from
token to token for a comparison between the two runtimes to mean something.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from deepfort.catalog import embedded_model_path

HIDDEN = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2
INTERMEDIATE = 128
CONTEXT = 512


@dataclass(frozen=True)
class TinyModel:
    hf_dir: Path
    gguf: Path


@functools.cache
def _tokenizer_dir() -> Path:
    """The embedded model's tokenizer saved as a Hugging Face tokenizer, once per process (reading it
    from the GGUF takes seconds; from the saved ``tokenizer.json`` a fraction of one)."""
    from transformers import AutoTokenizer

    source = embedded_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    out = Path(tempfile.mkdtemp(prefix="deepfort-tiny-tokenizer-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_model(out: Path, *, seed: int = 0) -> TinyModel:
    """Write the tiny model under ``out``: ``out/hf`` (config, safetensors, tokenizer) and
    ``out/tiny.gguf`` (f32, llama architecture, the embedded model's tokenizer metadata)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from deepfort.training.finetune.gguf_llama import write_llama_gguf

    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_dir())
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=CONTEXT,
        rms_norm_eps=1e-5,
        initializer_range=0.2,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    hf_dir = out / "hf"
    model.save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    gguf_path = write_llama_gguf(
        model.state_dict(), config, out / "tiny.gguf", tokenizer_from=embedded_model_path(), name="tiny"
    )
    return TinyModel(hf_dir=hf_dir, gguf=gguf_path)


@functools.cache
def _vocab_size() -> int:
    from deepfort.engines.llamacpp.model import LlamaModel

    model = LlamaModel(embedded_model_path(), vocab_only=True)
    try:
        return int(model.n_vocab)
    finally:
        model.close()


def build_tiny_gguf(out: Path, *, seed: int = 0) -> Path:
    """The tiny model's architecture with random weights, written as an f32 GGUF by our writer from numpy
    arrays alone (no torch): for the tests of what needs only a GGUF, such as merging adapters."""
    from types import SimpleNamespace

    import numpy as np

    from deepfort.training.finetune.gguf_llama import LLAMA_TENSORS, write_llama_gguf

    config = SimpleNamespace(
        vocab_size=_vocab_size(),
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=CONTEXT,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
    )
    head_dim = HIDDEN // HEADS
    shapes = {
        "input_layernorm.weight": (HIDDEN,),
        "self_attn.q_proj.weight": (HEADS * head_dim, HIDDEN),
        "self_attn.k_proj.weight": (KV_HEADS * head_dim, HIDDEN),
        "self_attn.v_proj.weight": (KV_HEADS * head_dim, HIDDEN),
        "self_attn.o_proj.weight": (HIDDEN, HEADS * head_dim),
        "post_attention_layernorm.weight": (HIDDEN,),
        "mlp.gate_proj.weight": (INTERMEDIATE, HIDDEN),
        "mlp.up_proj.weight": (INTERMEDIATE, HIDDEN),
        "mlp.down_proj.weight": (HIDDEN, INTERMEDIATE),
    }
    assert shapes.keys() == LLAMA_TENSORS.keys()
    rng = np.random.default_rng(seed)

    def draw(shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) == 1:  # norm weights near 1
            return 1 + 0.1 * rng.standard_normal(shape, dtype=np.float32)
        return 0.2 * rng.standard_normal(shape, dtype=np.float32)

    state = {
        "model.embed_tokens.weight": draw((config.vocab_size, HIDDEN)),
        "model.norm.weight": draw((HIDDEN,)),
    }
    for i in range(LAYERS):
        state |= {f"model.layers.{i}.{name}": draw(shape) for name, shape in shapes.items()}
    return write_llama_gguf(state, config, out, tokenizer_from=embedded_model_path(), name="tiny-numpy")

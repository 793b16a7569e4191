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

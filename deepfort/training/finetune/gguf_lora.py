"""Write a peft LoRA adapter as the GGUF LoRA adapter llama.cpp loads (``llama_adapter_lora_init``,
llama-server's ``--lora``).

The layout llama.cpp's ``llama-adapter.cpp`` checks:

- ``general.type = "adapter"``, ``general.architecture`` the base model's, ``adapter.type = "lora"``,
  ``adapter.lora.alpha`` (f32; llama.cpp scales each product by ``alpha / rank`` times the scale the
  user sets, peft's ``lora_alpha / r``);
- one pair per adapted weight, named after the base tensor: ``blk.{i}.attn_q.weight.lora_a`` and
  ``.lora_b``; ``lora_a`` has ggml dims ``[in, rank]`` and ``lora_b`` ``[rank, out]``, which is peft's
  ``lora_A.weight`` (``rank x in``) and ``lora_B.weight`` (``out x rank``) as they are, since GGUF dims
  are the numpy shape reversed.

For the ``llama`` architecture the rows of q and k are stored in llama.cpp's rotary order
(:func:`~deepfort.training.finetune.gguf_llama.permute_rope`); ``lora_b`` holds the output rows of the
update, so it is permuted the same way (``B`` permuted times ``A`` is the permuted ``B A``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import numpy.typing as npt

from deepfort.errors import ConfigError
from deepfort.training.finetune.gguf_llama import MODULE_TENSORS, as_f32, permute_rope

__all__ = ["GGUF_ARCHITECTURES", "write_lora_gguf"]

# Hugging Face model_type -> (llama.cpp architecture, whether q/k rows are permuted to its rotary order).
GGUF_ARCHITECTURES: dict[str, tuple[str, bool]] = {
    "llama": ("llama", True),
    "mistral": ("llama", True),
    "qwen2": ("qwen2", False),
    "qwen3": ("qwen3", False),
}

_KEY = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$")


def write_lora_gguf(
    adapter: Mapping[str, Any],
    config: Any,
    out: Path,
    *,
    alpha: float,
    name: str = "deepfort-lora",
) -> Path:
    """peft's adapter state dict (``get_peft_model_state_dict``) of a model with Hugging Face config
    ``config`` as a GGUF LoRA adapter at ``out``."""
    model_type = str(getattr(config, "model_type", ""))
    if model_type not in GGUF_ARCHITECTURES:
        known = ", ".join(sorted(GGUF_ARCHITECTURES))
        raise ConfigError(f"no GGUF LoRA layout for model type {model_type!r} (known: {known})")
    arch, permute = GGUF_ARCHITECTURES[model_type]
    n_head = int(config.num_attention_heads)
    n_head_kv = int(config.num_key_value_heads or n_head)

    pairs: dict[str, dict[str, npt.NDArray[np.float32]]] = {}
    for key, value in adapter.items():
        match = _KEY.search(key)
        if match is None:
            raise ConfigError(
                f"cannot place adapter tensor {key} in a GGUF LoRA (only projections of layers)"
            )
        layer, module, which = match.groups()
        if module not in MODULE_TENSORS:
            raise ConfigError(f"cannot place adapter tensor {key}: unknown module {module}")
        weight = as_f32(value)
        if which == "B" and permute and module in ("q_proj", "k_proj"):
            weight = np.ascontiguousarray(permute_rope(weight, n_head if module == "q_proj" else n_head_kv))
        pairs.setdefault(f"blk.{layer}.{MODULE_TENSORS[module]}.weight", {})[which] = weight

    writer = gguf.GGUFWriter(out, arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_name(name)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for base, pair in sorted(pairs.items(), key=lambda item: _order(item[0])):
        if set(pair) != {"A", "B"}:
            raise ConfigError(f"adapter has only one of lora_A and lora_B for {base}")
        writer.add_tensor(f"{base}.lora_a", pair["A"])
        writer.add_tensor(f"{base}.lora_b", pair["B"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def _order(name: str) -> tuple[int, str]:
    layer, rest = name.removeprefix("blk.").split(".", 1)
    return int(layer), rest

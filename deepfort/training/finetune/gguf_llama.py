"""Write a Hugging Face Llama model (its state dict and config) as a llama-architecture GGUF.

Our own small writer for one architecture, with the ``gguf`` package: it is what ``deepfort finetune``
uses to turn a merged model back into a file llama.cpp loads, and what the tests use to write the same
tiny model for transformers and for llama.cpp. The tokenizer is not converted: its ``tokenizer.*``
metadata is copied from a GGUF that already carries it (the base model the fine-tune started from).

Two layouts differ between the formats. Hugging Face's Llama rotates the two halves of each head
(``rotate_half``); llama.cpp's ``llama`` architecture rotates adjacent pairs, so the rows of the query
and key projections are permuted into that order (:func:`permute_rope`), the permutation llama.cpp's
converter applies and transformers' GGUF loader undoes. The GGUF dims are the numpy shape reversed
(``ne[0]`` is the input width), so a ``torch.nn.Linear`` weight is written as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import numpy.typing as npt

__all__ = ["LLAMA_TENSORS", "as_f32", "copy_tokenizer_metadata", "permute_rope", "write_llama_gguf"]

# Hugging Face name (per layer after ``model.layers.{i}.``) -> llama.cpp name (after ``blk.{i}.``).
LLAMA_TENSORS: dict[str, str] = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
# Module short name (peft's ``target_modules``) -> llama.cpp tensor stem, for the LoRA adapter.
MODULE_TENSORS: dict[str, str] = {
    key.split(".")[-2]: value.removesuffix(".weight")
    for key, value in LLAMA_TENSORS.items()
    if key.endswith("proj.weight")
}


def permute_rope(weight: npt.NDArray[Any], n_head: int) -> npt.NDArray[Any]:
    """Rows of a q or k projection (``n_head`` heads: the kv head count for k) from the half-split
    rotary order to the interleaved one: within each head, row ``j`` of the first half and row ``j`` of
    the second become rows ``2j`` and ``2j + 1``."""
    rows = weight.shape[0]
    return (
        weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def as_f32(value: Any) -> npt.NDArray[np.float32]:
    """A torch tensor (on any device, any dtype) or an array as a contiguous f32 numpy array."""
    if hasattr(value, "detach"):
        value = value.detach().to("cpu").float().numpy()
    return np.ascontiguousarray(value, dtype=np.float32)


def copy_tokenizer_metadata(source: Path, writer: gguf.GGUFWriter) -> None:
    """Every ``tokenizer.*`` key of the GGUF ``source`` (vocabulary, merges, special ids, chat template)."""
    reader = gguf.GGUFReader(source)
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type)


def write_llama_gguf(
    state_dict: Mapping[str, Any],
    config: Any,
    out: Path,
    *,
    tokenizer_from: Path,
    name: str = "deepfort",
) -> Path:
    """``state_dict`` (tensors or arrays, Hugging Face names) of a ``LlamaConfig`` model as an f32 GGUF.

    ``tokenizer_from`` is a GGUF whose ``tokenizer.*`` metadata the model uses. A tied output layer is
    written out as ``output.weight`` too, so the file does not depend on llama.cpp's fallback.
    """
    n_head = int(config.num_attention_heads)
    n_head_kv = int(config.num_key_value_heads or n_head)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // n_head)
    rope = getattr(config, "rope_parameters", None) or {}
    rope_theta = float(rope.get("rope_theta") or getattr(config, "rope_theta", None) or 10000.0)

    def array(key: str) -> npt.NDArray[np.float32]:
        return as_f32(state_dict[key])

    writer = gguf.GGUFWriter(out, "llama")
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(int(config.num_hidden_layers))
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_rope_freq_base(rope_theta)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(int(config.vocab_size))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    copy_tokenizer_metadata(tokenizer_from, writer)

    embed = array("model.embed_tokens.weight")
    writer.add_tensor("token_embd.weight", embed)
    for i in range(int(config.num_hidden_layers)):
        for hf_name, gguf_name in LLAMA_TENSORS.items():
            weight = array(f"model.layers.{i}.{hf_name}")
            if hf_name == "self_attn.q_proj.weight":
                weight = permute_rope(weight, n_head)
            elif hf_name == "self_attn.k_proj.weight":
                weight = permute_rope(weight, n_head_kv)
            writer.add_tensor(f"blk.{i}.{gguf_name}", np.ascontiguousarray(weight))
    writer.add_tensor("output_norm.weight", array("model.norm.weight"))
    output = array("lm_head.weight") if "lm_head.weight" in state_dict else embed
    writer.add_tensor("output.weight", output)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out

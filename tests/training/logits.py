"""llama.cpp's logits at every position of a prompt, through its low-level API, with LoRA adapters at
their scales: what the training tests compare the PyTorch model, merged files and adapters against."""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import llama_cpp as lc
import numpy as np

from deepfort.engines.llamacpp.model import LlamaModel


def llama_logits(
    model: LlamaModel, tokens: Sequence[int], adapters: Sequence[tuple[Path, float]] = ()
) -> np.ndarray[Any, Any]:
    """llama.cpp's logits at every position of ``tokens`` with ``adapters`` (path, scale) applied: f32 KV
    cache, flash attention off, one thread (so the sums are in one order)."""
    params = lc.llama_context_default_params()
    params.n_ctx = params.n_batch = params.n_ubatch = 256
    params.type_k = params.type_v = lc.GGML_TYPE_F32
    params.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
    params.n_threads = params.n_threads_batch = 1
    ctx = lc.llama_init_from_model(model.ptr, params)
    loras = []
    batch = lc.llama_batch_init(len(tokens), 0, 1)
    try:
        for path, _ in adapters:
            lora = lc.llama_adapter_lora_init(model.ptr, str(path).encode())
            assert lora, f"llama.cpp refused the adapter {path}"
            loras.append(lora)
        if loras:
            pointers = (lc.llama_adapter_lora_p_ctypes * len(loras))(*loras)
            scales = (ctypes.c_float * len(loras))(*(scale for _, scale in adapters))
            assert lc.llama_set_adapters_lora(ctx, pointers, len(loras), scales) == 0
        for i, token in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, i, 1, 1
            batch.seq_id[i][0] = 0
        batch.n_tokens = len(tokens)
        assert lc.llama_decode(ctx, batch) == 0
        rows = [
            np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, i), shape=(model.n_vocab,)).copy()
            for i in range(len(tokens))
        ]
        return np.stack(rows)
    finally:
        lc.llama_batch_free(batch)
        lc.llama_free(ctx)
        for lora in loras:
            lc.llama_adapter_lora_free(lora)


def quantize_q8_0(source: Path, out: Path) -> Path:
    """``source`` quantized to q8_0 by llama.cpp in this process (a tiny model takes milliseconds)."""
    params = lc.llama_model_quantize_default_params()
    params.ftype = lc.LLAMA_FTYPE_MOSTLY_Q8_0
    params.nthread = 1
    params.allow_requantize = True
    assert lc.llama_model_quantize(str(source).encode(), str(out).encode(), ctypes.byref(params)) == 0
    return out

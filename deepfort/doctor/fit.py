"""Do the configured local models fit in memory, and how many slots of ``n_ctx`` could each have?

Estimate (llama.cpp on the CPU, as ``deepfort serve`` runs local models):

- weights: the GGUF file's size (llama.cpp maps the file; the tensors are most of it);
- KV cache: per cell and layer, ``n_head_kv * (key_length + value_length)`` values of 2 bytes (f16), where
  ``key_length = value_length = n_embd / n_head`` unless the GGUF names them; that is
  ``2 * n_layer * cells * (n_embd / n_head * n_head_kv) * 2`` bytes. A model allocates ``kv_cells`` cells
  as the engine does (``LocalModel.kv_layout`` on the budget): by default a full ``n_ctx`` for every slot,
  or, when that takes more than a quarter of the memory, one pool of ``n_ctx * min(slots, 4)`` cells;
- headroom: :data:`HEADROOM_SHARE` of total RAM, at least :data:`HEADROOM_MIN_BYTES`, is kept for the
  OS, the Python process and llama.cpp's compute buffers. The budget is available RAM less the headroom.

A model fits when weights + KV cache fit the budget on its own; ``max_slots`` is how many sequences of its
full ``n_ctx`` the rest of the budget holds (at most 256, the ``n_parallel`` limit). Models served by an
``upstream`` are remote: nothing to fit here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from deepfort.config import ModelSpec, UpstreamModel
from deepfort.doctor.gguf import GgufError, Value, read_metadata

HEADROOM_SHARE = 0.10
HEADROOM_MIN_BYTES = 512 * 1024**2
F16_BYTES = 2
MAX_SLOTS = 256


def headroom(total_ram: int) -> int:
    return max(HEADROOM_MIN_BYTES, int(total_ram * HEADROOM_SHARE))


def _int(meta: dict[str, Value], key: str) -> int | None:
    value = meta.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def kv_bytes_per_cell(meta: dict[str, Value]) -> int:
    """Bytes of f16 KV cache one cell (one token position) takes across all layers."""
    arch = meta.get("general.architecture")
    if not isinstance(arch, str):
        raise GgufError("the GGUF names no general.architecture")

    def need(key: str) -> int:
        value = _int(meta, f"{arch}.{key}")
        if value is None or value <= 0:
            raise GgufError(f"the GGUF has no {arch}.{key}")
        return value

    n_layer, n_embd, n_head = need("block_count"), need("embedding_length"), need("attention.head_count")
    head_dim = n_embd // n_head
    k_len = _int(meta, f"{arch}.attention.key_length") or head_dim
    v_len = _int(meta, f"{arch}.attention.value_length") or head_dim
    kv_heads = meta.get(f"{arch}.attention.head_count_kv", n_head)
    # Some architectures give a count per layer (an array); layers without attention have 0.
    if isinstance(kv_heads, list):
        per_layer = [int(h) for h in kv_heads]
    elif isinstance(kv_heads, int):
        per_layer = [kv_heads] * n_layer
    else:
        raise GgufError(f"the GGUF's {arch}.attention.head_count_kv is not a number")
    return sum(h * (k_len + v_len) * F16_BYTES for h in per_layer)


@dataclass
class ModelFit:
    id: str
    kind: Literal["local", "remote"]
    path: str | None
    upstream: str | None
    n_ctx: int
    n_parallel: int
    kv_cells: int
    kv_unified: bool = False
    weights_bytes: int | None = None
    kv_bytes_per_cell: int | None = None
    kv_bytes: int | None = None
    need_bytes: int | None = None
    fits: bool | None = None
    max_slots: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_model(model: ModelSpec, path: Path | None, budget: int) -> ModelFit:
    """``path`` is the GGUF (the embedded one for ``path: null``); ``budget`` the bytes models may use."""
    if isinstance(model, UpstreamModel):
        return ModelFit(
            id=model.id, kind="remote", path=None, upstream=model.upstream, n_ctx=0, n_parallel=0, kv_cells=0
        )
    fit = ModelFit(
        id=model.id,
        kind="local",
        path=str(path) if path is not None else None,
        upstream=None,
        n_ctx=model.n_ctx,
        n_parallel=model.slots,
        kv_cells=model.cells,
    )
    if path is None or not path.is_file():
        fit.error = f"model file not found: {path}" if path is not None else "the embedded model is missing"
        return fit
    try:
        per_cell = kv_bytes_per_cell(read_metadata(path))
    except (GgufError, OSError) as exc:
        fit.error = str(exc)
        return fit
    fit.weights_bytes = path.stat().st_size
    cells, fit.kv_unified = model.kv_layout(per_cell, budget)
    fit.kv_cells = cells
    fit.kv_bytes_per_cell = per_cell
    fit.kv_bytes = per_cell * cells
    fit.need_bytes = fit.weights_bytes + fit.kv_bytes
    fit.fits = fit.need_bytes <= budget
    fit.max_slots = max(0, min(MAX_SLOTS, (budget - fit.weights_bytes) // (per_cell * model.n_ctx)))
    return fit

"""Which hardware runs which DeepSeek-R1 model and quantization: a table kept as data.

Sizes are estimates: weights = parameters x bytes per parameter (decimal GB), and a model fits a tier when
weights x :data:`OVERHEAD` (KV cache for a few concurrent sequences, activations, runtime) is at most the
tier's memory (all its GPUs together, as tensor parallelism splits the weights; RAM for CPU-only). Real
needs vary with context length, concurrency and engine settings.

The project's stated sizing for DeepSeek-R1-class serving: one A100 40GB at the least, two H100 80GB
recommended (the tiers marked ``seed``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from deepfort.doctor.fit import headroom

OVERHEAD = 1.2
GB = 1_000_000_000


@dataclass(frozen=True)
class Hardware:
    name: str
    memory_gb: float
    gpus: int
    seed: Literal["minimum", "recommended"] | None = None
    """The project's minimum or recommended center hardware."""


@dataclass(frozen=True)
class Quant:
    name: str
    bytes_per_param: float


@dataclass(frozen=True)
class ModelSize:
    name: str
    short: str
    params_b: float
    """Parameters, billions (all experts for a mixture of experts)."""
    quants: tuple[Quant, ...]


FP16 = Quant("FP16", 2.0)
FP8 = Quant("FP8", 1.0)
Q8_0 = Quant("Q8_0", 8.5 / 8)
Q4_K_M = Quant("Q4_K_M", 4.85 / 8)  # llama.cpp's mix of 4- and 6-bit blocks, about 4.85 bits a weight
DISTILL_QUANTS = (FP16, Q8_0, Q4_K_M)

GPU_TIERS: tuple[Hardware, ...] = (
    Hardware("1x 24GB GPU", 24, 1),
    Hardware("1x A100 40GB", 40, 1, seed="minimum"),
    Hardware("1x A100/H100 80GB", 80, 1),
    Hardware("2x H100 80GB", 160, 2, seed="recommended"),
    Hardware("8x H100 80GB", 640, 8),
    Hardware("8x H200 141GB", 1128, 8),
)

MODELS: tuple[ModelSize, ...] = (
    ModelSize("DeepSeek-R1 (671B MoE, 37B active)", "R1 671B MoE", 671, (FP8, Q4_K_M)),
    ModelSize("DeepSeek-R1-Distill-Llama-70B", "Llama-70B", 70.6, DISTILL_QUANTS),
    ModelSize("DeepSeek-R1-Distill-Qwen-32B", "Qwen-32B", 32.8, DISTILL_QUANTS),
    ModelSize("DeepSeek-R1-Distill-Qwen-14B", "Qwen-14B", 14.8, DISTILL_QUANTS),
    ModelSize("DeepSeek-R1-Distill-Llama-8B", "Llama-8B", 8.03, DISTILL_QUANTS),
    ModelSize("DeepSeek-R1-Distill-Qwen-7B", "Qwen-7B", 7.62, DISTILL_QUANTS),
    ModelSize("DeepSeek-R1-Distill-Qwen-1.5B", "Qwen-1.5B", 1.78, DISTILL_QUANTS),
)


def tiers(ram_bytes: int) -> list[Hardware]:
    """CPU-only with this machine's RAM, then the GPU tiers from the smallest. The CPU tier's memory is
    the RAM less the doctor's headroom (see :mod:`deepfort.doctor.fit`)."""
    usable = (ram_bytes - headroom(ram_bytes)) / GB
    return [Hardware(f"CPU-only, {ram_bytes / GB:.0f} GB RAM", round(usable, 1), 0), *GPU_TIERS]


@dataclass
class Row:
    model: str
    short: str
    params_b: float
    quant: str
    weights_gb: float
    need_gb: float
    min_tier: str | None
    """The first tier (CPU-only first) it fits; None when none does."""
    min_gpu_tier: str | None
    fits: list[str]
    here: Literal["gpu", "cpu"] | None
    """This machine runs it on its GPUs (all together), else in RAM (less headroom), else not at all."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def recommend(ram_bytes: int, gpu_bytes: int) -> list[Row]:
    """The table for a machine with ``ram_bytes`` of RAM and ``gpu_bytes`` of GPU memory in all."""
    hardware = tiers(ram_bytes)
    rows = []
    for model in MODELS:
        for quant in model.quants:
            weights = model.params_b * quant.bytes_per_param
            need = weights * OVERHEAD
            fits = [t.name for t in hardware if need <= t.memory_gb]
            here: Literal["gpu", "cpu"] | None = None
            if gpu_bytes and need * GB <= gpu_bytes:
                here = "gpu"
            elif need <= hardware[0].memory_gb:
                here = "cpu"
            rows.append(
                Row(
                    model=model.name,
                    short=model.short,
                    params_b=model.params_b,
                    quant=quant.name,
                    weights_gb=round(weights, 1),
                    need_gb=round(need, 1),
                    min_tier=fits[0] if fits else None,
                    min_gpu_tier=next((t.name for t in GPU_TIERS if need <= t.memory_gb), None),
                    fits=fits,
                    here=here,
                )
            )
    return rows


def seed_hardware() -> dict[str, str]:
    return {t.seed: t.name for t in GPU_TIERS if t.seed is not None}


def table(ram_bytes: int, gpu_bytes: int) -> dict[str, Any]:
    """The ``recommendations`` part of ``deepfort doctor --json``."""
    return {
        "note": "estimates: weights = parameters x bytes per parameter; fits when weights x "
        f"{OVERHEAD} <= the tier's memory (decimal GB)",
        "overhead": OVERHEAD,
        "seed": seed_hardware(),
        "tiers": [asdict(t) for t in tiers(ram_bytes)],
        "rows": [r.as_dict() for r in recommend(ram_bytes, gpu_bytes)],
    }

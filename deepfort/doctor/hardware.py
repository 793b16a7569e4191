"""What this machine has: CPU (model, cores, vector instruction sets), RAM, disk, NVIDIA GPUs (NVML)."""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

CPUINFO = Path("/proc/cpuinfo")
# Instruction sets llama.cpp and other CPU kernels pick their code paths by (x86 flags, then Arm features).
VECTOR_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "asimd",
    "asimddp",
    "sve",
    "sve2",
    "i8mm",
    "bf16",
)


@dataclass
class Cpu:
    model: str
    logical_cores: int
    """``os.cpu_count()``: every core the kernel shows."""
    usable_cores: int
    """Cores this process may run on (CPU affinity, as set by a container's cpuset)."""
    physical_cores: int | None
    flags: list[str]
    """The :data:`VECTOR_FLAGS` this CPU has."""

    @property
    def avx2(self) -> bool:
        return "avx2" in self.flags

    @property
    def avx512(self) -> bool:
        return "avx512f" in self.flags

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "avx2": self.avx2, "avx512": self.avx512}


@dataclass
class Memory:
    total_bytes: int
    available_bytes: int


@dataclass
class Disk:
    path: str
    """The data directory, or its nearest existing parent when it is not created yet."""
    total_bytes: int
    free_bytes: int


@dataclass
class Gpu:
    index: int
    name: str
    memory_total_bytes: int
    memory_free_bytes: int


@dataclass
class Gpus:
    devices: list[Gpu] = field(default_factory=list)
    driver: str | None = None
    cuda: str | None = None
    """The highest CUDA version the driver supports, e.g. ``12.4``."""
    error: str | None = None
    """Why NVML gave nothing (no library, no driver); None when it answered."""

    @property
    def memory_total_bytes(self) -> int:
        return sum(d.memory_total_bytes for d in self.devices)


def _cpuinfo_fields(text: str) -> dict[str, str]:
    """The first processor's ``key: value`` lines (keys lower-cased)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() not in out:
            out[key.strip().lower()] = value.strip()
    return out


def probe_cpu(cpuinfo: Path = CPUINFO) -> Cpu:
    fields = _cpuinfo_fields(cpuinfo.read_text(errors="replace")) if cpuinfo.is_file() else {}
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    model = fields.get("model name") or fields.get("hardware") or platform.processor() or platform.machine()
    logical = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    return Cpu(
        model=model,
        logical_cores=logical,
        usable_cores=usable,
        physical_cores=psutil.cpu_count(logical=False),
        flags=[f for f in VECTOR_FLAGS if f in flags],
    )


def probe_memory() -> Memory:
    vm = psutil.virtual_memory()
    return Memory(total_bytes=int(vm.total), available_bytes=int(vm.available))


def probe_disk(path: Path) -> Disk:
    existing = path.resolve()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = shutil.disk_usage(existing)
    return Disk(path=str(existing), total_bytes=usage.total, free_bytes=usage.free)


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def probe_gpus() -> Gpus:
    """NVIDIA GPUs through NVML; no devices (with ``error`` saying why) when NVML is not there."""
    import pynvml  # type: ignore[import-untyped, unused-ignore]

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return Gpus(error=f"NVML: {exc}")
    try:
        version = int(pynvml.nvmlSystemGetCudaDriverVersion())
        out = Gpus(
            driver=_text(pynvml.nvmlSystemGetDriverVersion()),
            cuda=f"{version // 1000}.{version % 1000 // 10}",
        )
        for index in range(int(pynvml.nvmlDeviceGetCount())):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            out.devices.append(
                Gpu(
                    index=index,
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    memory_total_bytes=int(memory.total),
                    memory_free_bytes=int(memory.free),
                )
            )
        return out
    except pynvml.NVMLError as exc:
        return Gpus(error=f"NVML: {exc}")
    finally:
        pynvml.nvmlShutdown()

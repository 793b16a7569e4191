"""Per-GPU gauges read from NVML at scrape time; absent (never an error) where NVML is not there."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pynvml  # type: ignore[import-untyped]  # nvidia-ml-py ships no type hints
from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger(__name__)


class GpuCollector:
    """Utilisation (0..1, like ``kv_cache_usage_perc``) and memory of each NVIDIA device, label ``gpu``."""

    def __init__(self, count: int) -> None:
        self._count = count
        self._open = True

    @classmethod
    def open(cls) -> GpuCollector | None:
        """Initialise NVML; ``None`` when there is no driver, no library or no device."""
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            log.debug("no GPU metrics: %s", exc)
            return None
        try:
            count = int(pynvml.nvmlDeviceGetCount())
        except pynvml.NVMLError as exc:
            log.debug("no GPU metrics: %s", exc)
            pynvml.nvmlShutdown()
            return None
        if count == 0:
            pynvml.nvmlShutdown()
            return None
        return cls(count)

    def close(self) -> None:
        if self._open:
            self._open = False
            pynvml.nvmlShutdown()

    def collect(self) -> Iterator[Metric]:
        util = GaugeMetricFamily(
            "deepfort:gpu_utilization_perc",
            "Share of the last sample period a kernel ran on the GPU, 0..1 (NVML).",
            labels=("gpu",),
        )
        used = GaugeMetricFamily("deepfort:gpu_memory_used_bytes", "GPU memory in use.", labels=("gpu",))
        total = GaugeMetricFamily("deepfort:gpu_memory_total_bytes", "GPU memory in all.", labels=("gpu",))
        if not self._open:
            return
        for index in range(self._count):
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
                memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            except pynvml.NVMLError as exc:
                # A device that fell off the bus (or a MIG slice without these counters) loses its series.
                log.debug("GPU %d metrics unavailable: %s", index, exc)
                continue
            label = (str(index),)
            util.add_metric(label, float(rates.gpu) / 100.0)
            used.add_metric(label, float(memory.used))
            total.add_metric(label, float(memory.total))
        yield from (util, used, total)

"""Metrics: what render() exposes after the recording calls, parsed back with prometheus_client's parser."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pynvml  # type: ignore[import-untyped]
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deepfort.observability.metrics import Metrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(metrics: Metrics) -> Samples:
    body, _ = metrics.render()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def names(found: Samples) -> set[str]:
    return {name for name, _ in found}


def finished(metrics: Metrics, **overrides: Any) -> None:
    args: dict[str, Any] = {
        "model": "smol",
        "tier": "edge",
        "ttft_s": 0.2,
        "itl_s": [0.004, 0.02, 0.02],
        "e2e_s": 1.5,
        "queue_s": 0.05,
        "prompt_tokens": 12,
        "generation_tokens": 4,
        "finished_reason": "stop",
    }
    metrics.request_finished(**{**args, **overrides})


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    m = Metrics(gpu=False)
    yield m
    m.close()


def test_render_is_prometheus_text(metrics: Metrics) -> None:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    assert b"# TYPE deepfort:time_to_first_token_seconds histogram" in body


def test_histograms_count_and_sum_per_model_and_tier(metrics: Metrics) -> None:
    finished(metrics)
    finished(metrics, ttft_s=0.5, itl_s=[0.5], e2e_s=400.0, queue_s=None)
    finished(metrics, model="big", tier="center", ttft_s=None, itl_s=[], e2e_s=3.0, queue_s=1.0)
    found = samples(metrics)
    edge = {"model": "smol", "tier": "edge"}
    ttft = "deepfort:time_to_first_token_seconds"
    assert value(found, f"{ttft}_count", **edge) == 2
    assert value(found, f"{ttft}_sum", **edge) == pytest.approx(0.7)
    assert value(found, f"{ttft}_bucket", **edge, le="0.15") == 0
    assert value(found, f"{ttft}_bucket", **edge, le="0.2") == 1  # le is inclusive
    assert value(found, f"{ttft}_bucket", **edge, le="0.5") == 2
    assert value(found, f"{ttft}_bucket", **edge, le="+Inf") == 2
    itl = "deepfort:inter_token_latency_seconds"
    assert value(found, f"{itl}_count", **edge) == 4  # every gap of both answers, in two calls
    assert value(found, f"{itl}_sum", **edge) == pytest.approx(0.544)
    assert value(found, f"{itl}_bucket", **edge, le="0.005") == 1
    assert value(found, f"{itl}_bucket", **edge, le="0.02") == 3
    e2e = "deepfort:e2e_request_latency_seconds"
    assert value(found, f"{e2e}_bucket", **edge, le="300.0") == 1  # 400 s lands past the last bound
    assert value(found, f"{e2e}_bucket", **edge, le="+Inf") == 2
    queue = "deepfort:request_queue_time_seconds"
    assert value(found, f"{queue}_count", **edge) == 1  # queue_s=None records nothing
    center = {"model": "big", "tier": "center"}
    assert (f"{ttft}_count", frozenset(center.items())) not in found
    assert (f"{itl}_count", frozenset(center.items())) not in found
    assert value(found, f"{e2e}_count", **center) == 1
    assert value(found, f"{queue}_sum", **center) == 1.0


def test_counters(metrics: Metrics) -> None:
    finished(metrics)
    finished(metrics, finished_reason="length", prompt_tokens=8, generation_tokens=6)
    metrics.request_failed(code="queue_full", status=503)
    metrics.request_failed(code="queue_full", status=503)
    metrics.request_failed(code="429")  # a bare status as the code is the status too
    metrics.routed(tier="center", reason="complex")
    metrics.routed(tier="edge", reason="fallback")
    metrics.routed(tier="center", reason="complex")
    metrics.guard_hit("pii.phone", 3)
    metrics.guard_hit("moderation")
    metrics.guard_hit("pii.email", 0)
    found = samples(metrics)
    edge = {"model": "smol", "tier": "edge"}
    assert value(found, "deepfort:prompt_tokens_total", **edge) == 20
    assert value(found, "deepfort:generation_tokens_total", **edge) == 10
    assert value(found, "deepfort:request_success_total", **edge, finished_reason="stop") == 1
    assert value(found, "deepfort:request_success_total", **edge, finished_reason="length") == 1
    assert value(found, "deepfort:request_errors_total", code="queue_full", status="503") == 2
    assert value(found, "deepfort:request_errors_total", code="429", status="429") == 1
    assert value(found, "deepfort:route_total", tier="center", reason="complex") == 2
    assert value(found, "deepfort:route_total", tier="edge", reason="fallback") == 1
    assert value(found, "deepfort:guard_hits_total", kind="pii.phone") == 3
    assert value(found, "deepfort:guard_hits_total", kind="moderation") == 1
    assert ("deepfort:guard_hits_total", frozenset({("kind", "pii.email")})) not in found


def test_engine_gauges_are_read_at_scrape_time(metrics: Metrics) -> None:
    state = {"running": 1, "waiting": 0}
    kv = [0.25]
    metrics.engine_source(lambda: [("smol", state["running"], state["waiting"], kv[0])])
    metrics.engine_source(lambda: [("big", 4, 9, 0.9)])
    first = samples(metrics)
    assert value(first, "deepfort:num_requests_running", model="smol") == 1
    assert value(first, "deepfort:kv_cache_usage_perc", model="smol") == 0.25
    assert value(first, "deepfort:num_requests_waiting", model="big") == 9
    state.update(running=3, waiting=5)
    kv[0] = 0.75
    second = samples(metrics)
    assert value(second, "deepfort:num_requests_running", model="smol") == 3
    assert value(second, "deepfort:num_requests_waiting", model="smol") == 5
    assert value(second, "deepfort:kv_cache_usage_perc", model="smol") == 0.75


def test_a_failing_engine_source_does_not_break_the_scrape(
    metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> list[tuple[str, int, int, float]]:
        raise RuntimeError("scheduler gone")

    metrics.engine_source(broken)
    metrics.engine_source(lambda: [("smol", 2, 0, 0.1)])
    metrics.request_failed(code="record_integrity", status=500)
    with caplog.at_level(logging.ERROR, logger="deepfort.observability.metrics"):
        found = samples(metrics)
    assert value(found, "deepfort:num_requests_running", model="smol") == 2
    assert value(found, "deepfort:request_errors_total", code="record_integrity", status="500") == 1
    assert "engine metrics source failed" in caplog.text
    assert "scheduler gone" in caplog.text


def test_accuracy_absent_until_set(metrics: Metrics) -> None:
    before = samples(metrics)
    assert "deepfort:answer_accuracy" not in names(before)
    assert value(before, "deepfort:answer_accuracy_samples") == 0
    metrics.set_accuracy(0.9, 120)
    after = samples(metrics)
    assert value(after, "deepfort:answer_accuracy") == 0.9
    assert value(after, "deepfort:answer_accuracy_samples") == 120


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_accuracy_must_be_a_share(metrics: Metrics, bad: float) -> None:
    with pytest.raises(ValueError, match=r"0\.\.1"):
        metrics.set_accuracy(bad, 10)


def test_center_state(metrics: Metrics) -> None:
    metrics.center_state("grpc://a:9443", up=True)
    metrics.center_state("grpc://b:9443", up=False)
    found = samples(metrics)
    assert value(found, "deepfort:center_up", target="grpc://a:9443") == 1
    assert value(found, "deepfort:center_up", target="grpc://b:9443") == 0
    metrics.center_state("grpc://b:9443", up=True)
    assert value(samples(metrics), "deepfort:center_up", target="grpc://b:9443") == 1


def test_instances_do_not_share_a_registry() -> None:
    one, two = Metrics(gpu=False), Metrics(gpu=False)
    one.request_failed(code="queue_full", status=503)
    assert value(samples(one), "deepfort:request_errors_total", code="queue_full", status="503") == 1
    assert not any(name == "deepfort:request_errors_total" for name, _ in samples(two))


GPU_NAMES = {
    "deepfort:gpu_utilization_perc",
    "deepfort:gpu_memory_used_bytes",
    "deepfort:gpu_memory_total_bytes",
}


def test_gpu_series_absent_without_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_library() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_library)
    metrics = Metrics(gpu=True)
    assert not names(samples(metrics)) & GPU_NAMES
    metrics.close()


class FakeNvml:
    """NVML (its own camelCase names) with two devices; a device can be made to fail."""

    def __init__(self) -> None:
        self.broken: set[int] = set()
        self.initialised = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in (
            "nvmlInit",
            "nvmlShutdown",
            "nvmlDeviceGetCount",
            "nvmlDeviceGetHandleByIndex",
            "nvmlDeviceGetUtilizationRates",
            "nvmlDeviceGetMemoryInfo",
        ):
            monkeypatch.setattr(pynvml, name, getattr(self, name))  # the module gpu.py calls

    def nvmlInit(self) -> None:
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self.initialised -= 1

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index in self.broken:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        return index

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=[97, 40][handle], memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(used=(handle + 1) * 2**30, total=80 * 2**30, free=0)


def test_gpu_series_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml()
    nvml.install(monkeypatch)
    metrics = Metrics(gpu=True)
    found = samples(metrics)
    assert value(found, "deepfort:gpu_utilization_perc", gpu="0") == 0.97
    assert value(found, "deepfort:gpu_utilization_perc", gpu="1") == 0.40
    assert value(found, "deepfort:gpu_memory_used_bytes", gpu="1") == 2 * 2**30
    assert value(found, "deepfort:gpu_memory_total_bytes", gpu="0") == 80 * 2**30
    nvml.broken.add(1)  # a device that fell off the bus loses its series, the other keeps them
    found = samples(metrics)
    assert ("deepfort:gpu_utilization_perc", frozenset({("gpu", "1")})) not in found
    assert value(found, "deepfort:gpu_utilization_perc", gpu="0") == 0.97
    metrics.close()
    assert nvml.initialised == 0
    assert not names(samples(metrics)) & GPU_NAMES


def test_gpu_false_never_touches_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml()
    nvml.install(monkeypatch)
    metrics = Metrics(gpu=False)
    assert nvml.initialised == 0
    assert not names(samples(metrics)) & GPU_NAMES


def nvml_present() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


@pytest.mark.gpu
@pytest.mark.skipif(not nvml_present(), reason="needs an NVIDIA driver (NVML)")
def test_real_gpu_series() -> None:
    metrics = Metrics(gpu=True)
    found = samples(metrics)
    metrics.close()
    utilisation = [v for (name, _), v in found.items() if name == "deepfort:gpu_utilization_perc"]
    totals = [v for (name, _), v in found.items() if name == "deepfort:gpu_memory_total_bytes"]
    assert utilisation and all(0.0 <= u <= 1.0 for u in utilisation)
    assert totals and all(t > 2**30 for t in totals)

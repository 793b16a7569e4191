"""Prometheus metrics for one node, named like vLLM's with a ``deepfort:`` prefix.

Each :class:`Metrics` owns its own ``CollectorRegistry``: nothing goes to prometheus_client's global
default registry, so several apps (and tests) in one process do not collide.

The hot path (:meth:`Metrics.request_finished`) runs once per request, never per token: the inter-token
latencies of a whole answer are folded into the histogram in one call. Values that describe the engine
right now (running and waiting requests, KV cache usage) and the GPUs are read at scrape time by
collectors, so they are never stale.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from deepfort.observability.gpu import GpuCollector

log = logging.getLogger(__name__)

# 10 ms .. 5 min, dense around the 0.5 s latency alert so histogram_quantile interpolates well there.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
    7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0,
)  # fmt: skip
# 1 ms .. 5 s between two tokens of one answer.
ITL_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15,
    0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
)  # fmt: skip

EngineState = tuple[str, int, int, float]
"""``(model, running requests, waiting requests, KV cache usage 0..1)``, as an engine source yields it."""

EngineSource = Callable[[], Iterable[EngineState]]


class Histogram:
    """A labelled histogram that takes many observations in one call (prometheus_client's takes one).

    Counts live per bucket (not cumulated) under one lock and are cumulated at scrape time.
    """

    def __init__(self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]):
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        self.bounds = tuple(sorted(buckets))
        self._les = [repr(float(b)) for b in self.bounds] + ["+Inf"]  # as prometheus_client writes `le`
        self._series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}
        self._lock = threading.Lock()

    def observe(self, key: tuple[str, ...], values: Iterable[float]) -> None:
        bounds = self.bounds
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = ([0] * (len(bounds) + 1), [0.0])
            counts, total = series
            for value in values:
                counts[bisect_left(bounds, value)] += 1  # bucket i holds bounds[i-1] < v <= bounds[i]
                total[0] += value

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        with self._lock:
            snapshot = [(key, list(counts), total[0]) for key, (counts, total) in self._series.items()]
        for key, counts, total in snapshot:
            cumulative, buckets = 0, []
            for le, count in zip(self._les, counts, strict=True):
                cumulative += count
                buckets.append((le, float(cumulative)))
            family.add_metric(list(key), buckets, total)
        return family


class _ScrapeTimeCollector:
    """Histograms, engine gauges and the accuracy gauge: everything :class:`Metrics` renders itself."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        for histogram in m.histograms:
            yield histogram.collect()
        yield from m.engine_families()
        yield from m.accuracy_families()


class Metrics:
    """One node's metrics, rendered in the Prometheus text format by :meth:`render`.

    ``gpu=True`` adds per-device NVML gauges when NVML is available; without it those series are absent.
    """

    def __init__(self, gpu: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        labels = ("model", "tier")
        self.ttft = Histogram(
            "deepfort:time_to_first_token_seconds",
            "Time from request arrival to the first generated token.",
            labels,
            LATENCY_BUCKETS,
        )
        self.itl = Histogram(
            "deepfort:inter_token_latency_seconds", "Time between two generated tokens.", labels, ITL_BUCKETS
        )
        self.e2e = Histogram(
            "deepfort:e2e_request_latency_seconds",
            "Time from request arrival to the last token.",
            labels,
            LATENCY_BUCKETS,
        )
        self.queue = Histogram(
            "deepfort:request_queue_time_seconds",
            "Time a request waited for a free slot.",
            labels,
            LATENCY_BUCKETS,
        )
        self.histograms = (self.ttft, self.itl, self.e2e, self.queue)
        r = self.registry
        self._prompt_tokens = Counter(
            "deepfort:prompt_tokens_total", "Prompt tokens processed.", labels, registry=r
        )
        self._generation_tokens = Counter(
            "deepfort:generation_tokens_total", "Tokens generated.", labels, registry=r
        )
        self._success = Counter(
            "deepfort:request_success_total",
            "Requests that finished, by why they stopped.",
            (*labels, "finished_reason"),
            registry=r,
        )
        self._errors = Counter(
            "deepfort:request_errors_total",
            "Requests answered with an error, by error code and HTTP status.",
            ("code", "status"),
            registry=r,
        )
        self._routes = Counter(
            "deepfort:route_total",
            "Routing decisions, by tier and a short reason (simple, complex, requested, fallback, local).",
            ("tier", "reason"),
            registry=r,
        )
        self._guard_hits = Counter(
            "deepfort:guard_hits_total", "Guard findings (PII, moderation), by kind.", ("kind",), registry=r
        )
        self._center_up = Gauge(
            "deepfort:center_up",
            "1 while a center answers its health probe, else 0.",
            ("target",),
            registry=r,
        )
        self._eval_score = Gauge(
            "deepfort:eval_score",
            "Score (accuracy, or pass@1 for code) of the latest finished eval run, by model and suite, 0..1.",
            ("model", "suite"),
            registry=r,
        )
        self._engine_sources: list[EngineSource] = []
        self._accuracy: tuple[float, int] | None = None
        self.registry.register(_ScrapeTimeCollector(self))
        self._gpu = GpuCollector.open() if gpu else None
        if self._gpu is not None:
            self.registry.register(self._gpu)

    # -- recording (hot path: once per request) --------------------------------------------------------

    def request_finished(
        self,
        *,
        model: str,
        tier: str,
        ttft_s: float | None,
        itl_s: Sequence[float],
        e2e_s: float,
        queue_s: float | None,
        prompt_tokens: int,
        generation_tokens: int,
        finished_reason: str,
    ) -> None:
        """Record one request that produced an answer (``finished_reason``: stop, length, ...)."""
        key = (model, tier)
        if ttft_s is not None:
            self.ttft.observe(key, (ttft_s,))
        if itl_s:
            self.itl.observe(key, itl_s)
        self.e2e.observe(key, (e2e_s,))
        if queue_s is not None:
            self.queue.observe(key, (queue_s,))
        if prompt_tokens:
            self._prompt_tokens.labels(model, tier).inc(prompt_tokens)
        if generation_tokens:
            self._generation_tokens.labels(model, tier).inc(generation_tokens)
        self._success.labels(model, tier, finished_reason).inc()

    def request_failed(self, *, code: str, status: int | None = None) -> None:
        """Record one request answered with an error: its error ``code`` and HTTP ``status``.

        The error-rate alert counts ``status=~"5.."`` only: client errors (401, 413, 429) page nobody.
        Without ``status``, a numeric ``code`` (``"503"``) is taken as the status.
        """
        if status is None and code.isdigit():
            status = int(code)
        self._errors.labels(code, "" if status is None else str(status)).inc()

    def routed(self, *, tier: str, reason: str) -> None:
        self._routes.labels(tier, reason).inc()

    def guard_hit(self, kind: str, count: int = 1) -> None:
        if count:
            self._guard_hits.labels(kind).inc(count)

    def set_accuracy(self, value: float, samples: int) -> None:
        """The rolling answer accuracy (0..1) over ``samples`` answers; absent until first set."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"accuracy must be within 0..1, got {value}")
        self._accuracy = (value, samples)

    def eval_score(self, model: str, suite: str, score: float) -> None:
        """The latest eval score of ``model`` on ``suite`` (``POST /v1/evals``), 0..1."""
        self._eval_score.labels(model, suite).set(score)

    def center_state(self, target: str, up: bool) -> None:
        self._center_up.labels(target).set(1.0 if up else 0.0)

    def engine_source(self, callback: EngineSource) -> None:
        """Add a callback read at each scrape, yielding ``(model, running, waiting, kv_usage)``.

        Scrapes of the separate metrics port run on that server's thread, so the callback should only
        read plain numbers, not iterate containers the event loop may be changing.
        """
        self._engine_sources.append(callback)

    # -- rendering --------------------------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The registry in the Prometheus text format: ``(body, content type)``."""
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4

    def close(self) -> None:
        """Release NVML (if it was opened); the metrics stay readable."""
        if self._gpu is not None:
            self.registry.unregister(self._gpu)
            self._gpu.close()
            self._gpu = None

    def engine_families(self) -> Iterator[Metric]:
        running = GaugeMetricFamily(
            "deepfort:num_requests_running", "Requests holding a decoding slot.", labels=("model",)
        )
        waiting = GaugeMetricFamily(
            "deepfort:num_requests_waiting", "Requests waiting for a slot.", labels=("model",)
        )
        kv = GaugeMetricFamily(
            "deepfort:kv_cache_usage_perc", "KV cache usage, 0..1 (1 = full).", labels=("model",)
        )
        for source in self._engine_sources:
            try:
                states = list(source())
            except Exception:
                # One broken source must not take /metrics (and the other sources) down with it.
                log.exception("engine metrics source failed")
                continue
            for model, n_running, n_waiting, kv_usage in states:
                running.add_metric((model,), n_running)
                waiting.add_metric((model,), n_waiting)
                kv.add_metric((model,), kv_usage)
        return iter((running, waiting, kv))

    def accuracy_families(self) -> Iterator[Metric]:
        accuracy = GaugeMetricFamily(
            "deepfort:answer_accuracy",
            "Rolling share of answers judged correct (feedback, golden set), 0..1.",
        )
        samples = GaugeMetricFamily(
            "deepfort:answer_accuracy_samples", "Answers in the rolling accuracy window."
        )
        if self._accuracy is not None:
            accuracy.add_metric((), self._accuracy[0])
            samples.add_metric((), self._accuracy[1])
        else:
            samples.add_metric((), 0)
        return iter((accuracy, samples))

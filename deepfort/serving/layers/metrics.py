"""Metrics: vLLM's request histograms and counters, the routing decision, guard hits; and the fields the
access log line of the request carries (``call.summary``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from deepfort.observability.metrics import Metrics
from deepfort.routing.route import Route
from deepfort.serving.call import Call
from deepfort.serving.layers.base import Layer

if TYPE_CHECKING:
    from deepfort.serving.run import Run


class MetricsLayer(Layer):
    name: ClassVar[str] = "metrics"

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def after(self, call: Call, run: Run) -> None:
        usage, route, timing = run.usage(), call.route, run.timing
        finish = run.finish_reasons()[0]
        tier = "local" if route is None else route.tier
        ttft = None if timing.first is None else timing.first - call.started
        self.metrics.request_finished(
            model=run.model,
            tier=tier,
            ttft_s=ttft,
            itl_s=timing.gaps,
            e2e_s=time.perf_counter() - call.started,
            queue_s=timing.queue_s,
            prompt_tokens=usage.prompt_tokens,
            generation_tokens=usage.completion_tokens,
            finished_reason=finish or "unknown",
        )
        if route is not None:
            self.metrics.routed(tier=route.tier, reason=route_class(route))
        if call.screened is not None:
            for kind, count in call.screened.pii.found.items():
                self.metrics.guard_hit(f"pii:{kind}", count)
        for category, count in run.moderation_hits().items():
            self.metrics.guard_hit(f"moderation:{category}", count)
        call.summary = {
            "key_id": call.caller.key.key_id,
            "model": run.model,
            "tier": tier,
            "route_reason": None if route is None else route.reason,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "ttft_ms": None if ttft is None else round(ttft * 1000, 2),
            "finish_reason": finish,
        }


def route_class(route: Route) -> str:
    """The short reason label of ``deepfort:route_total``: simple, complex, requested, fallback, local."""
    if route.degraded:
        return "fallback"
    head = route.reason.split(":", 1)[0].split(" ", 1)[0]
    return head if head in ("simple", "complex", "requested") else "local"

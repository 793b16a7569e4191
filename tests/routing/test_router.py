"""Breaker states, the center pick, and the routing plan, with scripted centers at the edge of the unit
(the real gRPC and HTTP centers are exercised in tests/cluster and tests/engines)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from deepfort.config import BreakerSettings, HealthCheckSettings, RoutingSettings
from deepfort.engines.messages import MessageStream
from deepfort.errors import CenterUnavailableError, ModelNotFoundError
from deepfort.routing.breaker import BreakerState, CircuitBreaker
from deepfort.routing.centers import CenterPool
from deepfort.routing.router import Router

COMPLEX = "请证明根号2是无理数，并比较反证法和算术基本定理两种证明思路的优缺点，逐步分析。"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_failures_and_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=10, clock=clock)
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now = 10
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now = 20
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()


class ScriptedCenter:
    """A center whose health and model list a test sets."""

    def __init__(self, target: str, models: list[str], healthy: bool = True) -> None:
        self._target = target
        self.models = models
        self.healthy = healthy

    @property
    def target(self) -> str:
        return self._target

    async def open_chat(self, body: dict[str, Any], request_id: str) -> MessageStream:
        raise CenterUnavailableError("scripted")

    async def list_models(self) -> list[str]:
        return self.models

    async def health(self) -> bool:
        if not self.healthy:
            raise CenterUnavailableError("down")
        return True

    async def close(self) -> None:
        pass


def pool(*centers: ScriptedCenter) -> CenterPool:
    out = CenterPool(HealthCheckSettings(failure_threshold=1), BreakerSettings(failure_threshold=1))
    for center in centers:
        out.add(center)
    asyncio.run(out.probe_all())
    return out


def router(centers: CenterPool, **routing: Any) -> Router:
    return Router(
        RoutingSettings(**routing), edge=True, local_models=lambda: ["small", "small-alias"], centers=centers
    )


def ask(question: str) -> list[dict[str, object]]:
    return [{"role": "user", "content": question}]


def test_least_outstanding_healthy_center_is_picked() -> None:
    a, b, down = (
        ScriptedCenter("a", ["big"]),
        ScriptedCenter("b", ["big"]),
        ScriptedCenter("c", ["big"], False),
    )
    centers = pool(a, b, down)
    centers.centers[0].outstanding = 3
    plan = router(centers).plan("auto", ask(COMPLEX))
    assert plan.center is centers.centers[1] and plan.route.tier == "center" and plan.wire_model == "big"
    centers.centers[1].outstanding = 5
    assert router(centers).plan("auto", ask(COMPLEX)).center is centers.centers[0]


def test_open_breaker_means_fallback_to_the_edge_marked_degraded() -> None:
    centers = pool(ScriptedCenter("a", ["big"]))
    centers.centers[0].breaker.record_failure()
    plan = router(centers).plan("auto", ask(COMPLEX))
    assert plan.local == "small" and plan.route.degraded and plan.route.tier == "edge"
    assert "no center available" in plan.route.reason
    with pytest.raises(CenterUnavailableError):
        router(centers, fallback=False).plan("auto", ask(COMPLEX))


def test_explicit_models_and_unknown_ones() -> None:
    centers = pool(ScriptedCenter("a", ["big", "big-alias"]))
    r = router(centers)
    assert r.plan("small-alias", ask(COMPLEX)).local == "small-alias"
    assert r.plan("big-alias", ask("hi")).wire_model == "big-alias"
    with pytest.raises(ModelNotFoundError, match="auto, small, small-alias, big, big-alias"):
        r.plan("nope", ask("hi"))


def test_default_model_and_threshold_come_from_settings() -> None:
    centers = pool(ScriptedCenter("a", ["big"]))
    assert router(centers, default_model="auto").plan(None, ask(COMPLEX)).route.tier == "center"
    assert router(centers, default_model="small").plan(None, ask(COMPLEX)).route.tier == "edge"
    assert router(centers, complexity_threshold=1.0).plan("auto", ask(COMPLEX)).route.tier == "edge"
    assert router(centers, complexity_threshold=0.0).plan("auto", ask("hi")).route.tier == "center"


def test_a_standalone_node_answers_auto_locally() -> None:
    r = Router(RoutingSettings(), edge=False, local_models=lambda: ["small"], centers=pool())
    plan = r.plan("auto", ask(COMPLEX))
    assert (plan.local, plan.route.tier, plan.route.degraded) == ("small", "local", False)


def test_health_probes_mark_down_and_back() -> None:
    center = ScriptedCenter("a", ["big"])
    centers = pool(center)
    center.healthy = False
    asyncio.run(centers.probe_all())
    assert not centers.centers[0].available and centers.pick(None) is None
    center.healthy = True
    asyncio.run(centers.probe_all())
    assert centers.pick("big") is centers.centers[0]

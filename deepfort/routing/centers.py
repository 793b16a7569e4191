"""The centers an edge knows: health probes, circuit breakers, outstanding requests, and the pick."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from deepfort.config import BreakerSettings, HealthCheckSettings, SamplingDefaults
from deepfort.engines.messages import MessageEngine, MessageEvent, MessageStream, MessageUsage
from deepfort.errors import CenterUnavailableError, DeepfortError, UpstreamError
from deepfort.routing.breaker import BreakerState, CircuitBreaker

log = logging.getLogger(__name__)


@dataclass
class Center:
    """One center. ``names`` maps each model name clients may use to the name the center knows; for a
    deepfort center they are learnt from ``ListModels``, for an OpenAI-compatible upstream they come from
    the model's config (``id`` and aliases -> ``upstream_model``)."""

    engine: MessageEngine
    breaker: CircuitBreaker
    names: dict[str, str] = field(default_factory=dict)
    default_model: str | None = None
    discover: bool = True
    healthy: bool = True
    failures: int = 0
    outstanding: int = 0
    last_error: str | None = None
    sampling: dict[str, SamplingDefaults] = field(default_factory=dict)
    """Sampling defaults by client-facing model name (an upstream model's spec), applied by the pipeline
    to what a request leaves out."""

    @property
    def target(self) -> str:
        return self.engine.target

    @property
    def available(self) -> bool:
        return self.healthy and self.breaker.state is not BreakerState.OPEN

    async def open_chat(self, body: dict[str, Any], request_id: str, deadline_s: float) -> MessageStream:
        """Send a chat request and wait (at most ``deadline_s``) until the center accepts it. The request
        counts as outstanding until its stream ends; a refusal, a timeout or a stream that breaks off is a
        failure for the circuit breaker, a finished answer a success."""
        self.outstanding += 1
        try:
            stream = await asyncio.wait_for(self.engine.open_chat(body, request_id), deadline_s)
        except TimeoutError:
            self.outstanding -= 1
            self.breaker.record_failure()
            raise CenterUnavailableError(f"{self.target} did not accept within {deadline_s:g} s") from None
        except (CenterUnavailableError, UpstreamError) as exc:
            self.outstanding -= 1
            self.breaker.record_failure()
            self.last_error = exc.message
            raise
        except BaseException:
            self.outstanding -= 1
            raise
        return _Tracked(stream, self)

    def ended(self, ok: bool | None) -> None:
        """A stream opened by :meth:`open_chat` ended: finished (True), broke off (False), or the client
        left first (None: no verdict on the center)."""
        self.outstanding -= 1
        if ok is True:
            self.breaker.record_success()
        elif ok is False:
            self.breaker.record_failure()

    def status(self) -> dict[str, object]:
        return {
            "target": self.target,
            "healthy": self.healthy,
            "breaker": self.breaker.state.value,
            "outstanding": self.outstanding,
            "models": sorted(self.names),
            "last_error": self.last_error,
        }


class _Tracked:
    """A center's stream that reports how it ended to its :class:`Center`, once."""

    def __init__(self, inner: MessageStream, center: Center) -> None:
        self.inner = inner
        self.center: Center | None = center

    @property
    def usage(self) -> MessageUsage | None:
        return self.inner.usage

    def _end(self, ok: bool | None) -> None:
        if self.center is not None:
            center, self.center = self.center, None
            center.ended(ok)

    async def __aiter__(self) -> AsyncIterator[MessageEvent]:
        try:
            async for event in self.inner:
                yield event
        except Exception:
            self._end(False)
            raise
        except BaseException:  # cancelled, or the reader stopped early: no verdict
            self._end(None)
            raise
        self._end(True)

    def cancel(self) -> None:
        self.inner.cancel()

    async def aclose(self) -> None:
        self._end(None)
        await self.inner.aclose()


class CenterPool:
    def __init__(self, health: HealthCheckSettings, breaker: BreakerSettings) -> None:
        self.health = health
        self.breaker_settings = breaker
        self.centers: list[Center] = []
        self._task: asyncio.Task[None] | None = None
        self.on_state: Callable[[str, bool], None] | None = None
        """Told each probe's outcome (target, up): the center_up gauge."""

    def add(self, engine: MessageEngine, names: dict[str, str] | None = None) -> Center:
        center = Center(
            engine=engine,
            breaker=CircuitBreaker(
                self.breaker_settings.failure_threshold, self.breaker_settings.reset_after_s
            ),
            names=dict(names or {}),
            default_model=next(iter(names.values()), None) if names else None,
            discover=names is None,
        )
        self.centers.append(center)
        return center

    def __bool__(self) -> bool:
        return bool(self.centers)

    async def start(self) -> None:
        if self.centers:
            await self.probe_all()
            self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for center in self.centers:
            await center.engine.close()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.health.interval_s)
            await self.probe_all()

    async def probe_all(self) -> None:
        await asyncio.gather(*(self.probe(center) for center in self.centers))

    async def probe(self, center: Center) -> None:
        try:
            ok = await asyncio.wait_for(center.engine.health(), self.health.timeout_s)
            # A center still loading already knows its model names.
            if center.discover and not center.names:
                await self._discover(center)
        except (TimeoutError, DeepfortError) as exc:
            ok = False
            center.last_error = str(exc) or type(exc).__name__
        if self.on_state is not None:
            self.on_state(center.target, ok)
        if ok:
            if not center.healthy:
                log.info("center is back", extra={"target": center.target})
            center.healthy, center.failures = True, 0
            # A passing probe after the reset time is the half-open trial.
            if center.breaker.state is BreakerState.HALF_OPEN:
                center.breaker.record_success()
            return
        center.failures += 1
        if center.failures >= self.health.failure_threshold and center.healthy:
            center.healthy = False
            log.warning("center is down", extra={"target": center.target, "error": center.last_error})

    async def _discover(self, center: Center) -> None:
        models = await asyncio.wait_for(center.engine.list_models(), self.health.timeout_s)
        center.names = {name: name for name in models}
        center.default_model = models[0] if models else None

    def serving(self, model: str) -> list[Center]:
        return [c for c in self.centers if model in c.names]

    def pick(self, model: str | None) -> Center | None:
        """The available center with the fewest outstanding requests that serves ``model`` (any, if
        None) and whose breaker lets a request through."""
        candidates = [c for c in self.centers if c.available and (model is None or model in c.names)]
        for center in sorted(candidates, key=lambda c: c.outstanding):
            if center.breaker.allow():
                return center
        return None

    def known_models(self) -> list[str]:
        names: list[str] = []
        for center in self.centers:
            names.extend(n for n in center.names if n not in names)
        return names

"""Per-key counters in fixed windows: request rate and token quota.

In one process the counters live in memory. With ``security.redis_url`` every server process shares them
in Redis (``INCRBY`` + ``EXPIRE`` on one key per window, atomic in a pipeline), so a key's 60/min holds
across replicas.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from deepfort.errors import ConfigError, ServiceUnavailableError


@dataclass(frozen=True)
class Window:
    name: str
    """What is counted for whom, e.g. ``rate:abc12345``."""
    window_s: int

    def bucket(self, now: float) -> tuple[str, float]:
        """The counter key of the window ``now`` falls in, and the seconds until it ends."""
        start = math.floor(now / self.window_s) * self.window_s
        return f"deepfort:{self.name}:{self.window_s}:{start}", start + self.window_s - now


class Counters(Protocol):
    async def add(self, window: Window, amount: int) -> tuple[int, float]:
        """Add ``amount`` to the current window; return the new total and seconds until it resets."""
        ...

    async def get(self, window: Window) -> tuple[int, float]: ...

    async def close(self) -> None: ...


class MemoryCounters:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.values: dict[str, tuple[int, float]] = {}

    def _expire(self, now: float) -> None:
        if len(self.values) > 10_000:
            self.values = {k: v for k, v in self.values.items() if v[1] > now}

    async def add(self, window: Window, amount: int) -> tuple[int, float]:
        now = self.clock()
        key, left = window.bucket(now)
        total = self.values.get(key, (0, 0.0))[0] + amount
        self.values[key] = (total, now + left)
        self._expire(now)
        return total, left

    async def get(self, window: Window) -> tuple[int, float]:
        key, left = window.bucket(self.clock())
        return self.values.get(key, (0, 0.0))[0], left

    async def close(self) -> None:
        pass


class RedisCounters:
    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        import redis.asyncio as redis

        self.clock = clock
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    async def add(self, window: Window, amount: int) -> tuple[int, float]:
        import redis

        key, left = window.bucket(self.clock())
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incrby(key, amount)
                pipe.expire(key, window.window_s + 5)
                total, _ = await pipe.execute()
        except redis.RedisError as exc:
            raise ServiceUnavailableError(f"rate-limit store unavailable: {exc}", retry_after=1) from None
        return int(total), left

    async def get(self, window: Window) -> tuple[int, float]:
        import redis

        key, left = window.bucket(self.clock())
        try:
            value = await self.client.get(key)
        except redis.RedisError as exc:
            raise ServiceUnavailableError(f"rate-limit store unavailable: {exc}", retry_after=1) from None
        return int(value or 0), left

    async def close(self) -> None:
        await self.client.aclose()


def make_counters(redis_url: str | None) -> Counters:
    if redis_url is None:
        return MemoryCounters()
    if not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"security.redis_url {redis_url!r}: expected redis://host:port/db")
    return RedisCounters(redis_url)

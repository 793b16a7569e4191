"""Opening several engine generations at once and merging their deltas into one stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar, cast

from deepfort.engines.base import Engine, EngineDelta, EngineRequest

T = TypeVar("T")


async def open_generations(
    engine: Engine, requests: list[EngineRequest]
) -> tuple[list[AsyncGenerator[EngineDelta, None]], list[int]]:
    """Start every request and wait for each acceptance, so that validation and queue errors surface
    before a response starts. Returns the open generators and each one's prompt token count."""
    opened: list[AsyncGenerator[EngineDelta, None]] = []
    prompt_tokens: list[int] = []
    try:
        for request in requests:
            gen = engine.generate(request)
            assert isinstance(gen, AsyncGenerator)
            opened.append(gen)
            accepted = await anext(gen)
            prompt_tokens.append(accepted.prompt_tokens)
    except BaseException:
        for gen in opened:
            await gen.aclose()
        raise
    return opened, prompt_tokens


_DONE = object()


async def merge(gens: list[AsyncGenerator[T, None]]) -> AsyncIterator[tuple[int, T]]:
    """Yield ``(index, item)`` from all generators as items arrive. Leaving early (or being cancelled)
    cancels the pumps, which closes every generator, which cancels their engine requests."""
    if len(gens) == 1:
        try:
            async for item in gens[0]:
                yield 0, item
        finally:
            await gens[0].aclose()
        return
    queue: asyncio.Queue[tuple[int, object]] = asyncio.Queue()

    async def pump(index: int, gen: AsyncGenerator[T, None]) -> None:
        try:
            async for item in gen:
                await queue.put((index, item))
            await queue.put((index, _DONE))
        except Exception as exc:
            await queue.put((index, exc))
        finally:
            await gen.aclose()

    tasks = [asyncio.create_task(pump(i, g)) for i, g in enumerate(gens)]
    remaining = len(gens)
    try:
        while remaining:
            index, got = await queue.get()
            if got is _DONE:
                remaining -= 1
            elif isinstance(got, Exception):
                raise got
            else:
                yield index, cast(T, got)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

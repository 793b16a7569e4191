"""Server-sent events, and noticing a client that went away (which cancels its generation)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Protocol, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from deepfort.errors import DeepfortError, EngineError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
log = logging.getLogger(__name__)


class ClientDisconnectedError(Exception):
    """The client closed the connection before the answer was ready."""


async def wait_for_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            log.debug("client disconnected", extra={"path": request.url.path})
            return


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Run ``work`` unless the client disconnects first; then cancel it (freeing its engine slot)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.create_task(wait_for_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise ClientDisconnectedError
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()


async def _race(request: Request, items: AsyncIterator[T]) -> AsyncIterator[T]:
    watcher = asyncio.create_task(wait_for_disconnect(request))
    step: asyncio.Future[T] | None = None
    try:
        while True:
            step = asyncio.ensure_future(anext(items))
            await asyncio.wait({step, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                return
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            step = None
            yield item
    finally:
        # Cancelling the pending step throws CancelledError into the generator chain, whose cleanup
        # cancels the engine request; only then can the generator be closed.
        watcher.cancel()
        if step is not None and not step.done():
            step.cancel()
            await asyncio.gather(step, return_exceptions=True)
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()


def _dump(chunk: BaseModel) -> str:
    data = chunk.model_dump(mode="json")
    for choice in data.get("choices", []):
        delta = choice.get("delta")
        if isinstance(delta, dict):
            choice["delta"] = {k: v for k, v in delta.items() if v is not None}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


async def sse(request: Request, chunks: AsyncIterator[BaseModel]) -> AsyncIterator[str]:
    """Frame chunks as ``data: {...}`` events ending in ``data: [DONE]``. An error after the stream
    started becomes one error event (the status line is already sent)."""
    try:
        async for chunk in _race(request, chunks):
            yield f"data: {_dump(chunk)}\n\n"
    except DeepfortError as exc:
        yield f"data: {json.dumps(exc.to_dict())}\n\n"
    except Exception as exc:
        log.exception("stream failed")
        yield f"data: {json.dumps(EngineError(f'generation failed: {exc}').to_dict())}\n\n"
    yield "data: [DONE]\n\n"


class Run(Protocol[T_co]):
    """An accepted generation, as the serving layer hands it to a route."""

    def stream(self) -> AsyncIterator[BaseModel]: ...

    async def collect(self) -> T_co: ...

    async def close(self) -> None: ...


async def respond(request: Request, run: Run[BaseModel], *, stream: bool) -> Response:
    """SSE for ``stream``, else one JSON body; a client gone before the end gets nothing (status 499 in
    our log) and its generation is cancelled."""
    if stream:
        return StreamingResponse(sse(request, run.stream()), media_type="text/event-stream")
    try:
        result = await until_disconnect(request, run.collect())
    except ClientDisconnectedError:
        await run.close()
        return Response(status_code=499)
    return Response(result.model_dump_json(), media_type="application/json")

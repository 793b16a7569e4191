"""Server-sent events, and noticing a client that went away (which cancels its generation)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from deepfort.errors import DeepfortError, EngineError
from deepfort.protocol import Usage

T_co = TypeVar("T_co", covariant=True)
log = logging.getLogger(__name__)


async def wait_for_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            log.debug("client disconnected", extra={"path": request.url.path})
            return


class Run(Protocol[T_co]):
    """An accepted generation, as the serving layer hands it to a route."""

    def stream(self) -> AsyncIterator[str]:
        """JSON texts, one per server-sent event."""
        ...

    async def collect(self) -> T_co: ...

    def cancel(self) -> None: ...

    async def close(self) -> None: ...

    def usage(self) -> Usage:
        """Tokens used so far (all of them once the run has ended)."""
        ...


Finished = Callable[[Usage], Awaitable[None]]
"""Called once when a run has ended, with its usage (token quotas, request records)."""


def _watch(request: Request, run: Run[object]) -> asyncio.Task[None]:
    """Cancel ``run`` when the client disconnects. The engine then ends its streams at the next step,
    so the response code simply sees them finish: no task per token has to race the disconnect."""
    watcher = asyncio.create_task(wait_for_disconnect(request))

    def on_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled():
            run.cancel()

    watcher.add_done_callback(on_done)
    return watcher


async def sse(request: Request, run: Run[object], finished: Finished | None = None) -> AsyncIterator[str]:
    """Frame chunks as ``data: {...}`` events ending in ``data: [DONE]``. An error after the stream
    started becomes one error event (the status line is already sent)."""
    watcher = _watch(request, run)
    try:
        async for chunk in run.stream():
            yield f"data: {chunk}\n\n"
    except DeepfortError as exc:
        yield f"data: {json.dumps(exc.to_dict())}\n\n"
    except Exception as exc:
        log.exception("stream failed")
        yield f"data: {json.dumps(EngineError(f'generation failed: {exc}').to_dict())}\n\n"
    finally:
        watcher.cancel()
        await run.close()
        if finished is not None:
            await finished(run.usage())
    yield "data: [DONE]\n\n"


async def respond(
    request: Request, run: Run[BaseModel], *, stream: bool, finished: Finished | None = None
) -> Response:
    """SSE for ``stream``, else one JSON body; a client gone before the end gets nothing (status 499 in
    our log) and its generation is cancelled."""
    if stream:
        return StreamingResponse(sse(request, run, finished), media_type="text/event-stream")
    try:
        result = await collect(request, run)
    finally:
        if finished is not None:
            await finished(run.usage())
    if result is None:
        return Response(status_code=499)
    return Response(result.model_dump_json(), media_type="application/json")


async def collect(request: Request, run: Run[T_co]) -> T_co | None:
    """The whole answer, or None when the client went away first (its generation is cancelled)."""
    watcher = _watch(request, run)
    try:
        result = await run.collect()
    finally:
        gone = watcher.done() and not watcher.cancelled()
        watcher.cancel()
        await run.close()
    return None if gone else result

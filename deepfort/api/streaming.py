"""Answering HTTP with a pipeline run: server-sent events or one JSON body, noticing a client that went
away (which cancels its generation), and the access log fields of the request."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from deepfort.api.auth import principal
from deepfort.api.deps import node, request_id
from deepfort.api.middleware import ACCESS_STATE
from deepfort.errors import DeepfortError, EngineError
from deepfort.protocol import ChatCompletionRequest
from deepfort.serving.call import Caller
from deepfort.serving.layers.conversation import last_user_text
from deepfort.serving.run import Run

T = TypeVar("T")
log = logging.getLogger(__name__)

Chunks = Callable[[Run], AsyncIterator[str]]
Whole = Callable[[Run], Awaitable[T]]


def caller(request: Request) -> Caller:
    """The HTTP caller: the authenticated key and the request id the middleware gave this request."""
    return Caller(key=principal(request), request_id=request_id(request))


async def wait_for_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            log.debug("client disconnected", extra={"path": request.url.path})
            return


def _watch(request: Request, run: Run) -> asyncio.Task[None]:
    """Cancel ``run`` when the client disconnects. The engine then ends its streams at the next step,
    so the response code simply sees them finish: no task per token has to race the disconnect."""
    watcher = asyncio.create_task(wait_for_disconnect(request))

    def on_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled():
            run.cancel()

    watcher.add_done_callback(on_done)
    return watcher


async def _close(request: Request, run: Run) -> None:
    """Close the run (its after-hooks write records, metrics and audit) and hand the access log what the
    request did."""
    await run.close()
    detail = dict(run.call.summary)
    original = run.call.original
    if node(request).settings.observability.log_prompts and isinstance(original, ChatCompletionRequest):
        detail["prompt"] = last_user_text(original)
    request.scope.setdefault("state", {})[ACCESS_STATE] = detail


async def sse(request: Request, run: Run, chunks: Chunks) -> AsyncIterator[str]:
    """Frame chunks as ``data: {...}`` events ending in ``data: [DONE]``. An error after the stream
    started becomes one error event (the status line is already sent)."""
    watcher = _watch(request, run)
    try:
        async for chunk in chunks(run):
            yield f"data: {chunk}\n\n"
    except DeepfortError as exc:
        yield f"data: {json.dumps(exc.to_dict())}\n\n"
    except Exception as exc:
        log.exception("stream failed")
        yield f"data: {json.dumps(EngineError(f'generation failed: {exc}').to_dict())}\n\n"
    finally:
        watcher.cancel()
        await _close(request, run)
    yield "data: [DONE]\n\n"


async def collect(request: Request, run: Run, whole: Whole[T]) -> T | None:
    """The whole answer, or None when the client went away first (its generation is cancelled)."""
    watcher = _watch(request, run)
    try:
        result = await whole(run)
    finally:
        gone = watcher.done() and not watcher.cancelled()
        watcher.cancel()
        await _close(request, run)
    return None if gone else result


async def respond(
    request: Request, run: Run, *, stream: bool, chunks: Chunks, whole: Whole[BaseModel]
) -> Response:
    """SSE for ``stream``, else one JSON body; a client gone before the end gets nothing (status 499 in
    our log) and its generation is cancelled."""
    if stream:
        return StreamingResponse(sse(request, run, chunks), media_type="text/event-stream")
    result = await collect(request, run, whole)
    if result is None:
        return Response(status_code=499)
    return Response(result.model_dump_json(), media_type="application/json")

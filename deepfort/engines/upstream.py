"""A center reached over its OpenAI-compatible HTTP API: vLLM, SGLang, llama-server, llama-cpp-python's
server, Ollama's ``/v1``, DeepSeek's API.

:class:`UpstreamEngine` implements :class:`deepfort.engines.messages.MessageEngine`. It always streams
(``stream: true`` with usage), maps refusals to deepfort's errors before returning from ``open_chat``,
and reads the event stream into normalised :class:`MessageEvent` values (see
:mod:`deepfort.engines.upstream_chunks` for the reasoning conventions it understands).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from deepfort.engines.messages import MessageEvent, MessageUsage
from deepfort.engines.sse import aiter_sse
from deepfort.engines.upstream_chunks import ChunkReader, ThinkInContent, error_message
from deepfort.errors import (
    CenterUnavailableError,
    ConfigError,
    DeepfortError,
    UpstreamError,
    center_error,
)

__all__ = ["ThinkInContent", "UpstreamEngine", "UpstreamStream", "retry_after_seconds", "status_error"]

HEALTH_TIMEOUT = 2.0
"""Seconds a health probe may take: a center that slow is not one to route to."""
DRAIN_TIMEOUT = 1.0
"""Seconds to wait for the end of the body after ``[DONE]``, to keep the connection for the next request."""


class UpstreamEngine:
    """An OpenAI-compatible server at ``base_url`` (e.g. ``http://vllm:8000/v1``).

    ``connect_timeout`` bounds connecting; ``read_timeout`` bounds each wait for data, so a long answer
    is fine as long as tokens keep coming. ``think_in_content`` and ``prompt_opens_reasoning`` say how to
    read ``<think>`` in content from servers without a reasoning parser (see
    :class:`~deepfort.engines.upstream_chunks.ChunkReader`).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 300.0,
        think_in_content: ThinkInContent = "auto",
        prompt_opens_reasoning: bool = False,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"an upstream base_url must start with http:// or https://, got {base_url!r}")
        if prompt_opens_reasoning and think_in_content != "always":
            raise ConfigError("prompt_opens_reasoning only applies with think_in_content='always'")
        self._base = base_url.rstrip("/")
        self._think_in_content: ThinkInContent = think_in_content
        self._prompt_opens_reasoning = prompt_opens_reasoning
        self._client = httpx.AsyncClient(
            headers={"authorization": f"Bearer {api_key}"} if api_key else None,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            # No cap of our own on open streams: the center queues or answers 503, which we pass on.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
        )

    @property
    def target(self) -> str:
        return self._base

    async def open_chat(self, body: dict[str, Any], request_id: str) -> UpstreamStream:
        payload = dict(body)
        options = payload.get("stream_options")
        payload["stream"] = True
        payload["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        request = self._client.build_request(
            "POST",
            f"{self._base}/chat/completions",
            json=payload,
            headers={"x-request-id": request_id, "accept": "text/event-stream"},
        )
        response = await self._send(request)
        reader = ChunkReader(self._think_in_content, prompt_opens_reasoning=self._prompt_opens_reasoning)
        return UpstreamStream(response, reader)

    async def list_models(self) -> list[str]:
        response = await self._send(self._client.build_request("GET", f"{self._base}/models"))
        try:
            body = json.loads(await response.aread())
        except httpx.TransportError as exc:
            raise _unreachable(exc) from exc
        except ValueError as exc:
            raise UpstreamError("the center's model list is not JSON") from exc
        finally:
            await response.aclose()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(m, dict) and "id" in m for m in data):
            raise UpstreamError(f"the center's model list has an unexpected shape: {str(body)[:200]}")
        return [str(model["id"]) for model in data]

    async def health(self) -> bool:
        try:
            response = await self._client.get(f"{self._base}/models", timeout=HEALTH_TIMEOUT)
        except httpx.HTTPError:
            return False
        return response.is_success

    async def close(self) -> None:
        await self._client.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send and wait for the status line; a non-2xx answer is read and raised as a deepfort error."""
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _unreachable(exc) from exc
        if response.is_success:
            return response
        try:
            await response.aread()
        except httpx.TransportError as exc:
            raise _unreachable(exc) from exc
        finally:
            await response.aclose()
        raise status_error(response)


class UpstreamStream:
    """An accepted generation: iterate it once for its events; ``usage`` is set when it has ended."""

    def __init__(self, response: httpx.Response, reader: ChunkReader) -> None:
        self._response = response
        self._reader = reader
        self._started = False
        self._stopped = False  # cancel() or aclose(): a broken read after this is expected, not an error
        self._closer: asyncio.Task[None] | None = None
        self.usage: MessageUsage | None = None

    async def __aiter__(self) -> AsyncIterator[MessageEvent]:
        if self._started:
            raise RuntimeError("an upstream stream can be iterated only once")
        self._started = True
        try:
            async with contextlib.aclosing(self._events()) as events:
                async for event in events:
                    if self._stopped:  # cancelled while events were already read: send none of them
                        break
                    yield event
        finally:
            self.usage = self._reader.usage
            await self._close_response()

    def cancel(self) -> None:
        # Closing the connection is how every OpenAI-compatible server learns to abort the generation.
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(RuntimeError):  # no running loop: aclose() will release it
            self._closer = asyncio.get_running_loop().create_task(self._close_response())

    async def aclose(self) -> None:
        self._stopped = True
        self.usage = self._reader.usage
        if self._closer is not None:
            await self._closer
        await self._close_response()

    async def _close_response(self) -> None:
        with contextlib.suppress(httpx.HTTPError):
            await self._response.aclose()

    async def _events(self) -> AsyncGenerator[MessageEvent, None]:
        reader = self._reader
        try:
            async with contextlib.aclosing(aiter_sse(self._response.aiter_bytes())) as stream:
                async for server_event in stream:
                    for event in reader.feed_event(server_event):
                        yield event
                    if reader.done:
                        break
                if reader.done:
                    await _drain(stream)
        except (httpx.TransportError, httpx.StreamError) as exc:
            if self._stopped:
                return
            raise CenterUnavailableError(f"the connection to the center broke off: {_describe(exc)}") from exc
        if self._stopped:
            return
        if not reader.complete:
            raise CenterUnavailableError("the center's stream ended before the answer was complete")
        for event in reader.finish():
            yield event


def status_error(response: httpx.Response) -> DeepfortError:
    """The deepfort error for a center's non-2xx answer (whose body has been read): see
    :func:`deepfort.errors.center_error` for the map from status to error."""
    status = response.status_code
    try:
        body: object = response.json()
    except ValueError:
        body = None
    upstream_message = error_message(body)
    message = upstream_message or response.text.strip()[:300] or response.reason_phrase
    if status == 404 and upstream_message is None:
        # Not an OpenAI error body: the path itself is wrong, most often a base_url without /v1.
        return UpstreamError(
            f"the center has no chat completions endpoint at this base_url (HTTP 404): {message}"
        )
    error = body.get("error") if isinstance(body, dict) else None
    fields = error if isinstance(error, dict) else body if isinstance(body, dict) else {}
    param, code = fields.get("param"), fields.get("code")
    return center_error(
        status,
        message,
        param=param if isinstance(param, str) else None,
        code=code if isinstance(code, str) else None,
        retry_after=retry_after_seconds(response.headers.get("retry-after")),
    )


def retry_after_seconds(value: str | None, default: int = 1) -> int:
    """Whole seconds (at least 1) from a Retry-After header: delay seconds or an HTTP date."""
    if not value:
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(1, math.ceil(seconds)) if math.isfinite(seconds) else default


async def _drain(events: AsyncIterator[object]) -> None:
    """Read what follows ``[DONE]`` (normally just the end of the body) so the connection can be reused;
    a server that keeps talking only costs the connection."""
    with contextlib.suppress(TimeoutError, httpx.TransportError, httpx.StreamError):
        async with asyncio.timeout(DRAIN_TIMEOUT):
            async for _ in events:
                pass


def _unreachable(exc: httpx.TransportError) -> CenterUnavailableError:
    return CenterUnavailableError(f"the center could not be reached: {_describe(exc)}")


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

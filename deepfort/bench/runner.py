"""The load generator: streaming requests against an OpenAI-compatible server, timed at the client.

Arrivals follow ``request_rate`` (a Poisson process, requests/s; ``inf`` sends every request at once), and
at most ``max_concurrency`` are in flight (the rest wait their turn). A fixed number of clients is
``request_rate=inf`` with ``max_concurrency=N``. A request fails on a non-2xx status, an error event in
the stream, a transport error or a stream without any answer; a failure is recorded, never raised.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from deepfort.bench.metrics import RequestResult
from deepfort.bench.prompts import BenchPrompt
from deepfort.errors import DeepfortError

Endpoint = Literal["chat", "completions"]
PATHS: dict[Endpoint, str] = {"chat": "/chat/completions", "completions": "/completions"}
DEFAULT_MAX_TOKENS = 128


@dataclass(frozen=True)
class LoadConfig:
    model: str
    endpoint: Endpoint = "chat"
    max_tokens: int | None = None
    """Overrides every prompt's own ``max_tokens``; without either, DEFAULT_MAX_TOKENS."""
    temperature: float = 0.0
    seed: int | None = None
    """Sent to the server as the sampling seed when given."""
    request_rate: float = math.inf
    max_concurrency: int | None = None
    arrival_seed: int = 0
    ignore_eos: bool = False
    """Ask for exactly ``max_tokens`` tokens (vLLM's and llama-server's ``ignore_eos``)."""


def open_client(url: str, api_key: str | None, timeout_s: float) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.AsyncClient(
        base_url=url.rstrip("/"),
        headers=headers,
        # A request may wait in the server's queue for a long time before its first event; the pool
        # itself never makes a request wait, the concurrency limit does.
        timeout=httpx.Timeout(timeout_s, pool=None),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
    )


def _url(client: httpx.AsyncClient, path: str) -> str:
    return str(client.base_url).rstrip("/") + path


def _error_text(body: object, fallback: str) -> str:
    if isinstance(body, dict):
        error = body.get("error", body.get("detail"))
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str | list) and error:
            return str(error)
    return fallback


async def first_model(client: httpx.AsyncClient) -> str:
    """The first id of ``GET /models``; DeepfortError with a readable message when there is none."""
    where = _url(client, "/models")
    try:
        response = await client.get("/models")
    except httpx.HTTPError as exc:
        raise DeepfortError(f"cannot list the models at {where}: {type(exc).__name__}: {exc}") from exc
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if response.is_error:
        raise DeepfortError(f"GET {where}: {_error_text(body, f'HTTP {response.status_code}')}")
    try:
        return str(body["data"][0]["id"])
    except (TypeError, KeyError, IndexError):
        raise DeepfortError(f"{where} lists no models; name one with --model") from None


def request_body(cfg: LoadConfig, prompt: BenchPrompt) -> dict[str, Any]:
    body: dict[str, Any] = {"model": cfg.model}
    if cfg.endpoint == "chat":
        body["messages"] = list(prompt.messages)
    else:
        body["prompt"] = prompt.text
    body |= {
        "max_tokens": cfg.max_tokens or prompt.max_tokens or DEFAULT_MAX_TOKENS,
        "temperature": cfg.temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if cfg.seed is not None:
        body["seed"] = cfg.seed
    if cfg.ignore_eos:
        body["ignore_eos"] = True
    return body


def _chunk_text(chunk: dict[str, Any]) -> str:
    text = ""
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            text += delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning") or ""
        text += choice.get("text") or ""
    return text


async def _stream(response: httpx.Response, result: RequestResult, start: float) -> None:
    """Read the events. TTFT and ITL are timed on chunks that carry text; an answer without any text
    (the model stopped at once) still completes, its TTFT taken at its last chunk."""
    chunks = 0
    last = start
    answered: float | None = None
    usage: dict[str, Any] | None = None
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue  # blank separators, comments, pings and other SSE fields
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            break
        event = json.loads(data)
        if not isinstance(event, dict):
            raise ValueError(f"unexpected event: {data[:200]}")
        if "error" in event:
            result.error = "error event: " + _error_text(event, data[:200])
            return
        if isinstance(event.get("usage"), dict):
            usage = event["usage"]
        now = time.perf_counter()
        if event.get("choices"):
            answered = now
        if _chunk_text(event):
            if chunks == 0:
                result.ttft = now - start
            else:
                result.itl.append(now - last)
            last = now
            chunks += 1
    result.latency = time.perf_counter() - start
    if answered is None and usage is None:
        result.error = "the stream ended without any choice or usage"
        return
    result.ok = True
    if result.ttft is None:
        result.ttft = (answered or time.perf_counter()) - start
    result.output_tokens = int(usage.get("completion_tokens") or chunks) if usage else chunks
    if usage and isinstance(usage.get("prompt_tokens"), int):
        result.input_tokens = usage["prompt_tokens"]


async def send(client: httpx.AsyncClient, cfg: LoadConfig, prompt: BenchPrompt) -> RequestResult:
    """One streaming request, timed; failures are recorded in the result."""
    result = RequestResult()
    start = time.perf_counter()
    try:
        async with client.stream("POST", PATHS[cfg.endpoint], json=request_body(cfg, prompt)) as response:
            if response.is_error:
                await response.aread()
                try:
                    body: object = response.json()
                except ValueError:
                    body = None
                result.error = f"HTTP {response.status_code}: " + _error_text(body, response.text[:200])
            else:
                await _stream(response, result, start)
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc or 'no detail'} ({_url(client, PATHS[cfg.endpoint])})"
    except ValueError as exc:  # an event that is not JSON
        result.error = f"unreadable stream: {exc}"
    if not result.ok:
        result.latency = time.perf_counter() - start
    return result


async def run_load(
    client: httpx.AsyncClient,
    cfg: LoadConfig,
    prompts: Sequence[BenchPrompt],
    on_done: Callable[[RequestResult], None] | None = None,
) -> tuple[list[RequestResult], float]:
    """Send every prompt; returns the results in prompt order and the wall time from the first send to
    the last answer."""
    limit = asyncio.Semaphore(cfg.max_concurrency) if cfg.max_concurrency else None
    rng = random.Random(cfg.arrival_seed)
    results: list[RequestResult | None] = [None] * len(prompts)

    async def one(index: int, prompt: BenchPrompt) -> None:
        if limit is None:
            results[index] = await send(client, cfg, prompt)
        else:
            async with limit:
                results[index] = await send(client, cfg, prompt)
        if on_done is not None:
            on_done(results[index] or RequestResult())

    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for index, prompt in enumerate(prompts):
            if index and math.isfinite(cfg.request_rate):
                await asyncio.sleep(rng.expovariate(cfg.request_rate))
            group.create_task(one(index, prompt))
    duration = time.perf_counter() - start
    return [r if r is not None else RequestResult(error="not sent") for r in results], duration

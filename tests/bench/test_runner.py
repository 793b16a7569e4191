"""The load generator against scripted servers (httpx.MockTransport at the edge): SSE reading, token
counting, failure recording, the request body and the concurrency limit."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable

import httpx
import pytest

from deepfort.bench.metrics import RequestResult
from deepfort.bench.prompts import BenchPrompt
from deepfort.bench.runner import LoadConfig, first_model, request_body, run_load, send
from deepfort.errors import DeepfortError

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]
PROMPT = BenchPrompt(messages=({"role": "user", "content": "Hi"},), prompt="Hi")


def sse(*events: object) -> httpx.Response:
    body = "".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events)
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


def chat(text: str, field: str = "content") -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {field: text}}]}


def usage(prompt: int, completion: int) -> dict[str, object]:
    return {"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


def run_send(handler: Handler, cfg: LoadConfig | None = None) -> RequestResult:
    async def go() -> RequestResult:
        transport = httpx.MockTransport(handler)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench.test/v1") as client:
            return await send(client, cfg or LoadConfig(model="m"), PROMPT)

    return asyncio.run(go())


def test_usage_chunk_counts_the_tokens() -> None:
    role_only = {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}
    result = run_send(
        lambda _: sse(role_only, chat("Hel"), chat("lo"), chat(" there"), usage(7, 5), "[DONE]")
    )
    assert result.ok and result.error is None
    assert (result.output_tokens, result.input_tokens) == (5, 7)
    assert result.ttft is not None and result.ttft <= result.latency
    assert len(result.itl) == 2  # gaps between the three chunks with text


def test_without_usage_the_chunks_are_counted() -> None:
    result = run_send(
        lambda _: sse(chat("a"), chat("b", "reasoning_content"), chat("c", "reasoning"), "[DONE]")
    )
    assert result.ok
    assert (result.output_tokens, result.input_tokens) == (3, None)


def test_an_answer_without_text_completes() -> None:
    # The model stopped at once: one chunk with no text, the usage counts the end-of-sequence token.
    stop = {"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}
    result = run_send(
        lambda _: sse(stop, usage(4, 1), "[DONE]"), LoadConfig(model="m", endpoint="completions")
    )
    assert result.ok and result.output_tokens == 1
    assert result.ttft is not None and result.itl == [] and result.tpot is None


def test_text_completion_chunks() -> None:
    events = [{"choices": [{"index": 0, "text": t}]} for t in ("x", "y")]
    result = run_send(lambda _: sse(*events, "[DONE]"), LoadConfig(model="m", endpoint="completions"))
    assert result.ok and result.output_tokens == 2


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (sse(chat("a"), {"error": {"message": "boom", "type": "server_error"}}), "error event: boom"),
        (
            httpx.Response(404, json={"error": {"message": "model m not found"}}),
            "HTTP 404: model m not found",
        ),
        (httpx.Response(422, json={"detail": "bad field"}), "HTTP 422: bad field"),
        (httpx.Response(500, text="oops"), "HTTP 500: oops"),
        (sse("[DONE]"), "the stream ended without any choice or usage"),
        (sse("not json"), "unreadable stream"),
    ],
)
def test_failures_are_recorded(response: httpx.Response, error: str) -> None:
    result = run_send(lambda _: response)
    assert not result.ok
    assert result.error is not None and result.error.startswith(error), result.error


def test_transport_error_is_recorded() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = run_send(refuse)
    assert not result.ok
    assert result.error == "ConnectError: connection refused (http://bench.test/v1/chat/completions)"


def test_request_body() -> None:
    with_own = BenchPrompt(messages=({"role": "user", "content": "Hi"},), prompt="Hi", max_tokens=9)
    body = request_body(LoadConfig(model="m"), with_own)
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["max_tokens"], body["temperature"]) == (9, 0.0)
    assert "seed" not in body
    forced = request_body(LoadConfig(model="m", endpoint="completions", max_tokens=4, seed=3), with_own)
    assert (forced["prompt"], forced["max_tokens"], forced["seed"]) == ("Hi", 4, 3)
    assert "messages" not in forced
    assert request_body(LoadConfig(model="m"), PROMPT)["max_tokens"] == 128


@pytest.mark.parametrize(("rate", "limit", "most"), [(math.inf, 2, 2), (math.inf, None, 6), (1000.0, 1, 1)])
def test_concurrency_limit(rate: float, limit: int | None, most: int) -> None:
    in_flight = peak = 0

    async def handler(_: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return sse(chat("a"), chat("b"), "[DONE]")

    done: list[RequestResult] = []

    async def go() -> tuple[list[RequestResult], float]:
        cfg = LoadConfig(model="m", request_rate=rate, max_concurrency=limit)
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(handler), base_url="http://b/v1"
        ) as client:
            return await run_load(client, cfg, [PROMPT] * 6, done.append)

    results, duration = asyncio.run(go())
    assert peak == most
    assert len(results) == len(done) == 6 and all(r.ok for r in results)
    assert duration > 0


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (httpx.Response(200, json={"data": [{"id": "a"}, {"id": "b"}]}), "a"),
        (httpx.Response(200, json={"data": []}), "lists no models"),
        (httpx.Response(401, json={"error": {"message": "invalid api key"}}), "invalid api key"),
    ],
)
def test_first_model(response: httpx.Response, outcome: str) -> None:
    async def go() -> str:
        transport = httpx.MockTransport(lambda _: response)
        async with httpx.AsyncClient(transport=transport, base_url="http://b/v1") as client:
            return await first_model(client)

    if outcome == "a":
        assert asyncio.run(go()) == "a"
    else:
        with pytest.raises(DeepfortError, match=outcome):
            asyncio.run(go())

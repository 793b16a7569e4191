"""UpstreamEngine over real loopback HTTP: the request it sends, how refusals map to deepfort's errors,
cancellation, connection reuse, discovery and health."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TypeVar

import pytest

from deepfort.engines.messages import MessageEngine, MessageEvent
from deepfort.engines.upstream import UpstreamEngine, retry_after_seconds
from deepfort.errors import (
    CenterUnavailableError,
    ConfigError,
    ContextLengthExceededError,
    DeepfortError,
    InvalidRequestError,
    ModelNotFoundError,
    PayloadTooLargeError,
    UpstreamError,
)
from tests.conftest import free_port
from tests.engines.replay_server import MODEL_ID, ReplayServer, fixture
from tests.helpers import wait_until

T = TypeVar("T")
BODY: dict[str, object] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
REQUEST_ID = "0f6b2c1d8a7e4d5f9b0c1e2d3c4b5a69"


@pytest.fixture(scope="module")
def replay_server() -> Iterator[ReplayServer]:
    server = ReplayServer()
    yield server
    server.stop()


@pytest.fixture
def replay(replay_server: ReplayServer) -> ReplayServer:
    replay_server.reset()
    return replay_server


def run_with(base_url: str, work: Callable[[UpstreamEngine], Awaitable[T]], **options: object) -> T:
    async def run() -> T:
        engine = UpstreamEngine(base_url, **options)  # type: ignore[arg-type]
        try:
            return await work(engine)
        finally:
            await engine.close()

    return asyncio.run(run())


async def read_all(engine: UpstreamEngine, body: dict[str, object] = BODY) -> list[MessageEvent]:
    stream = await engine.open_chat(body, REQUEST_ID)
    try:
        return [event async for event in stream]
    finally:
        await stream.aclose()


def test_target_is_the_base_url_without_trailing_slash() -> None:
    async def check(engine: MessageEngine) -> str:  # typed as the protocol: mypy checks conformance
        return engine.target

    assert run_with("http://127.0.0.1:9/v1/", check) == "http://127.0.0.1:9/v1"


def test_request_forces_streaming_with_usage_and_carries_id_and_key(replay: ReplayServer) -> None:
    replay.script.stream = fixture("vllm_reasoning.sse")
    body = {**BODY, "stream": False, "stream_options": {"continuous_usage_stats": True}, "top_k": 5}
    original = json.loads(json.dumps(body))
    run_with(replay.v1 + "/", lambda engine: read_all(engine, body), api_key="sk-test")
    assert body == original, "the caller's body is not modified"
    [request] = replay.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.body == {
        **original,
        "stream": True,
        "stream_options": {"continuous_usage_stats": True, "include_usage": True},
    }
    assert request.headers["x-request-id"] == REQUEST_ID
    assert request.headers["authorization"] == "Bearer sk-test"


def test_no_authorization_header_without_a_key(replay: ReplayServer) -> None:
    replay.script.stream = fixture("vllm_reasoning.sse")
    run_with(replay.v1, read_all)
    assert "authorization" not in replay.requests[0].headers


def test_connection_is_reused_after_done(replay: ReplayServer) -> None:
    replay.script.stream = fixture("deepseek_api.sse")

    async def twice(engine: UpstreamEngine) -> None:
        await read_all(engine)
        await read_all(engine)

    run_with(replay.v1, twice)
    first, second = replay.requests
    assert first.client_port == second.client_port


def _error(message: str, code: object = None, param: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": "x", "param": param, "code": code}}).encode()


BAD_TEMPERATURE = _error("temperature must be >= 0", param="temperature")
TOO_LONG = _error("too long", code="context_length_exceeded")
FASTAPI_422 = b'{"detail":[{"loc":["body","messages"],"msg":"Field required"}]}'
SGLANG_503 = b'{"object":"error","message":"queue full","type":"x","code":503}'

ERROR_CASES = [
    # status, body, headers, expected class, retry_after, text in the message
    (400, BAD_TEMPERATURE, {}, InvalidRequestError, None, "temperature"),
    (400, TOO_LONG, {}, ContextLengthExceededError, None, "too long"),
    (422, FASTAPI_422, {}, InvalidRequestError, None, "Field required"),
    (404, _error("The model `m` does not exist.", code=404), {}, ModelNotFoundError, None, "does not exist"),
    (404, b'{"detail":"Not Found"}', {}, UpstreamError, None, "base_url"),
    (401, _error("Incorrect API key provided"), {}, UpstreamError, None, "credentials"),
    (403, b"forbidden", {}, UpstreamError, None, "credentials"),
    (429, _error("Rate limit reached"), {"Retry-After": "7"}, CenterUnavailableError, 7, "Rate limit"),
    (503, SGLANG_503, {"Retry-After": "12"}, CenterUnavailableError, 12, "queue full"),
    (503, b"", {}, CenterUnavailableError, 1, "503"),
    (413, _error("prompt too large"), {}, PayloadTooLargeError, None, "too large"),
    (500, _error("CUDA error: out of memory"), {}, UpstreamError, None, "out of memory"),
    (502, b"<html>Bad Gateway</html>", {}, UpstreamError, None, "Bad Gateway"),
    (418, b"teapot", {}, InvalidRequestError, None, "teapot"),
]


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "retry_after", "text"),
    ERROR_CASES,
    ids=[f"{case[0]}-{case[3].__name__}" for case in ERROR_CASES],
)
def test_refusal_maps_to_deepfort_error(
    replay: ReplayServer,
    status: int,
    body: bytes,
    headers: dict[str, str],
    error: type[DeepfortError],
    retry_after: int | None,
    text: str,
) -> None:
    replay.script.status, replay.script.body, replay.script.headers = status, body, headers
    with pytest.raises(error, match=text) as caught:
        run_with(replay.v1, read_all)
    assert type(caught.value) is error
    assert getattr(caught.value, "retry_after", None) == retry_after
    if body is BAD_TEMPERATURE:
        assert caught.value.message.startswith("the center rejected the request: ")
        assert caught.value.param == "temperature"


def test_list_models_maps_refusals_too(replay: ReplayServer) -> None:
    replay.script.status, replay.script.body = 401, _error("bad key")
    with pytest.raises(UpstreamError, match="credentials"):
        run_with(replay.v1, lambda engine: engine.list_models())


def test_list_models_and_health(replay: ReplayServer) -> None:
    async def probe(engine: UpstreamEngine) -> tuple[list[str], bool]:
        return await engine.list_models(), await engine.health()

    assert run_with(replay.v1, probe) == ([MODEL_ID], True)
    replay.script.status = 503
    assert run_with(replay.v1, lambda engine: engine.health()) is False


def test_nothing_listening_is_center_unavailable() -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(CenterUnavailableError, match="could not be reached"):
        run_with(dead, read_all)
    with pytest.raises(CenterUnavailableError):
        run_with(dead, lambda engine: engine.list_models())
    assert run_with(dead, lambda engine: engine.health()) is False


def test_read_timeout_mid_stream_is_center_unavailable(replay: ReplayServer) -> None:
    replay.script.stream, replay.script.piece, replay.script.delay = fixture("vllm_reasoning.sse"), 600, 2.0
    with pytest.raises(CenterUnavailableError, match="ReadTimeout"):
        run_with(replay.v1, read_all, read_timeout=0.3)


def test_cancel_closes_the_connection_and_ends_the_stream_quietly(replay: ReplayServer) -> None:
    replay.script.stream, replay.script.piece, replay.script.delay = fixture("vllm_reasoning.sse"), 40, 0.05

    async def cancel_after_first(engine: UpstreamEngine) -> list[MessageEvent]:
        stream = await engine.open_chat(BODY, REQUEST_ID)
        events = []
        async for event in stream:
            events.append(event)
            stream.cancel()
            stream.cancel()  # idempotent
        await stream.aclose()
        await stream.aclose()
        return events

    events = run_with(replay.v1, cancel_after_first)
    assert len(events) == 1, "nothing after cancel()"
    wait_until(replay.disconnected.is_set, "the server saw the client go away", limit=10)


def test_cancel_before_reading_and_iterating_twice(replay: ReplayServer) -> None:
    replay.script.stream = fixture("vllm_reasoning.sse")

    async def scenario(engine: UpstreamEngine) -> None:
        stream = await engine.open_chat(BODY, REQUEST_ID)
        stream.cancel()
        assert [event async for event in stream] == []
        with pytest.raises(RuntimeError, match="only once"):
            async for _ in stream:
                pass
        await stream.aclose()

    run_with(replay.v1, scenario)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 1),
        ("", 1),
        ("120", 120),
        ("0", 1),
        ("1.5", 2),
        ("soon", 1),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1),
    ],
)
def test_retry_after_seconds(value: str | None, seconds: int) -> None:
    assert retry_after_seconds(value) == seconds


def test_retry_after_http_date_in_the_future() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 80 <= retry_after_seconds(when) <= 91


@pytest.mark.parametrize(
    ("base_url", "options", "text"),
    [
        ("127.0.0.1:8000/v1", {}, "http"),
        ("http://h/v1", {"prompt_opens_reasoning": True}, "always"),
    ],
)
def test_bad_configuration(base_url: str, options: dict[str, object], text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        UpstreamEngine(base_url, **options)  # type: ignore[arg-type]

"""UpstreamEngine against a real third-party OpenAI-compatible server: llama-cpp-python's, on the
embedded model. It also pins what that server does differently from vLLM (see the table of refusals)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from deepfort.catalog import embedded_model_path
from deepfort.engines.messages import MessageEvent, MessageUsage
from deepfort.engines.upstream import UpstreamEngine
from deepfort.errors import CenterUnavailableError, DeepfortError, InvalidRequestError, UpstreamError
from tests.conftest import Server, free_port
from tests.helpers import wait_until

T = TypeVar("T")
REQUEST_ID = "0f6b2c1d8a7e4d5f9b0c1e2d3c4b5a69"  # its starlette-context only takes UUID-shaped ids
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def run_with(base_url: str, work: Callable[[UpstreamEngine], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = UpstreamEngine(base_url)
        try:
            return await work(engine)
        finally:
            await engine.close()

    return asyncio.run(run())


def test_streams_an_answer(llama_server: Server) -> None:
    async def ask(engine: UpstreamEngine) -> tuple[list[MessageEvent], MessageUsage | None]:
        body = {"model": "smol", "messages": QUESTION, "max_tokens": 16, "temperature": 0}
        stream = await engine.open_chat(body, REQUEST_ID)
        try:
            return [event async for event in stream], stream.usage
        finally:
            await stream.aclose()

    events, usage = run_with(llama_server.v1, ask)
    assert "".join(event.content for event in events).strip()
    assert [event.finish_reason for event in events if event.finish_reason] in (["stop"], ["length"])
    assert events[-1].finish_reason is not None
    # llama-cpp-python's server ignores stream_options.include_usage: no usage chunk at all.
    assert usage is None


def test_list_models_and_health(llama_server: Server) -> None:
    async def probe(engine: UpstreamEngine) -> tuple[list[str], bool]:
        return await engine.list_models(), await engine.health()

    models, healthy = run_with(llama_server.v1, probe)
    assert [Path(model).name for model in models] == [embedded_model_path().name]
    assert healthy
    assert run_with(f"http://127.0.0.1:{free_port()}/v1", lambda engine: engine.health()) is False


@pytest.mark.parametrize(
    ("body", "request_id", "error", "text"),
    [
        # starlette-context refuses an id that is not a UUID: 400 with an empty body.
        ({"messages": QUESTION, "max_tokens": 2}, "not-a-uuid", InvalidRequestError, "rejected the request"),
        # Body validation errors come back as 500 (its error handler wraps them), so they read as a fault.
        ({"messages": "hi", "max_tokens": 2}, REQUEST_ID, UpstreamError, "valid list"),
        # A prompt over n_ctx fails after the 200 is sent: the stream just ends, without [DONE].
        ({"messages": [{"role": "user", "content": "hello " * 1500}], "max_tokens": 2}, REQUEST_ID,
         CenterUnavailableError, "ended before the answer was complete"),
    ],
    ids=["bad-request-id", "invalid-body", "context-overflow"],
)  # fmt: skip
def test_refusals(
    llama_server: Server, body: dict[str, object], request_id: str, error: type[DeepfortError], text: str
) -> None:
    async def ask(engine: UpstreamEngine) -> None:
        stream = await engine.open_chat(body, request_id)
        try:
            async for _ in stream:
                pass
        finally:
            await stream.aclose()

    with pytest.raises(error, match=text) as caught:
        run_with(llama_server.v1, ask)
    assert type(caught.value) is error


def test_cancel_stops_the_generation(llama_server: Server) -> None:
    async def cancel_after_first(engine: UpstreamEngine) -> list[MessageEvent]:
        body = {"messages": QUESTION, "max_tokens": 400, "temperature": 0}
        stream = await engine.open_chat(body, REQUEST_ID)
        events = []
        async for event in stream:
            events.append(event)
            if event.content:
                stream.cancel()
        await stream.aclose()
        return events

    seen = llama_server.log().count("Disconnected from client")
    events = run_with(llama_server.v1, cancel_after_first)
    assert not any(event.finish_reason for event in events)
    wait_until(
        lambda: llama_server.log().count("Disconnected from client") > seen, "the server saw the disconnect"
    )

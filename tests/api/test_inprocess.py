"""The OpenAI API in process: the real app through ``httpx.ASGITransport``, on scripted engines (the fast
lane's view of the HTTP contract; the same paths run on the real model in tests marked e2e)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.conftest import InProcess
from tests.engines.scripted import DEFAULT, ScriptedEngine

ASK: list[dict[str, object]] = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def engine(inprocess: InProcess) -> Iterator[ScriptedEngine]:
    engine = inprocess.engine("scripted")
    engine.reset()
    yield engine
    engine.reset()


def post(inprocess: InProcess, path: str, body: object) -> tuple[int, Any]:
    async def send() -> tuple[int, Any]:
        reply = await inprocess.client.post(path, json=body)
        return reply.status_code, reply.json()

    return inprocess.run(send())


def stream(inprocess: InProcess, path: str, body: Mapping[str, object]) -> list[Any]:
    """The ``data:`` payloads of an SSE reply, parsed, up to and without ``[DONE]`` (which must come)."""

    async def read() -> list[Any]:
        async with inprocess.client.stream("POST", path, json={**body, "stream": True}) as reply:
            assert reply.status_code == 200, await reply.aread()
            assert reply.headers["content-type"].startswith("text/event-stream")
            payloads = [line.removeprefix("data: ") async for line in reply.aiter_lines() if line]
        assert payloads[-1] == "[DONE]", payloads
        return [json.loads(p) for p in payloads[:-1]]

    return inprocess.run(read())


def rendered(engine: ScriptedEngine, messages: list[dict[str, object]]) -> int:
    return len(engine.tokenize(engine.render_chat(messages)))


def test_chat_completion(inprocess: InProcess, engine: ScriptedEngine) -> None:
    engine.enqueue(["Hel", "lo", "!"])
    status, data = post(inprocess, "/v1/chat/completions", {"model": "scripted", "messages": ASK})
    assert status == 200, data
    assert data["object"] == "chat.completion" and data["model"] == "scripted"
    (choice,) = data["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Hello!"
    assert choice["finish_reason"] == "stop"
    prompt = rendered(engine, ASK)
    assert data["usage"]["prompt_tokens"] == prompt
    assert data["usage"]["completion_tokens"] == len("Hello!")
    assert data["usage"]["total_tokens"] == prompt + len("Hello!")
    assert engine.requests[-1].prompt == engine.render_chat(ASK)


def test_chat_completion_stream(inprocess: InProcess, engine: ScriptedEngine) -> None:
    engine.enqueue(["Hel", "lo", "!"])
    body: dict[str, object] = {"model": "script", "messages": ASK, "stream_options": {"include_usage": True}}
    chunks = stream(inprocess, "/v1/chat/completions", body)
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    choices = [c["choices"][0] for c in chunks if c["choices"]]
    assert choices[0]["delta"].get("role") == "assistant"
    assert "".join(c["delta"].get("content") or "" for c in choices) == "Hello!"
    assert [c["finish_reason"] for c in choices if c["finish_reason"]] == ["stop"]
    usage = chunks[-1]
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == len("Hello!")
    assert usage["usage"]["prompt_tokens"] == rendered(engine, ASK)


def test_max_tokens_cuts_the_answer(inprocess: InProcess, engine: ScriptedEngine) -> None:
    engine.enqueue(["Hello", " world"])
    body = {"model": "scripted", "messages": ASK, "max_tokens": 7}
    status, data = post(inprocess, "/v1/chat/completions", body)
    assert status == 200, data
    assert data["choices"][0]["message"]["content"] == "Hello w"
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 7


def test_text_completion(inprocess: InProcess, engine: ScriptedEngine) -> None:
    engine.enqueue([" upon", " a time"])
    status, data = post(inprocess, "/v1/completions", {"model": "scripted", "prompt": "Once"})
    assert status == 200, data
    assert data["object"] == "text_completion"
    (choice,) = data["choices"]
    assert choice["text"] == " upon a time"
    assert choice["finish_reason"] == "stop"
    assert data["usage"]["prompt_tokens"] == len("Once")
    assert data["usage"]["completion_tokens"] == len(" upon a time")
    assert engine.requests[-1].prompt == "Once"


def test_unscripted_requests_get_the_default_answer(inprocess: InProcess, engine: ScriptedEngine) -> None:
    status, data = post(
        inprocess, "/v1/completions", {"model": "scripted", "prompt": "Once", "max_tokens": 64}
    )
    assert status == 200, data
    assert data["choices"][0]["text"] == "".join(DEFAULT)


def test_models_lists_every_name(inprocess: InProcess) -> None:
    async def get() -> tuple[int, Any]:
        reply = await inprocess.client.get("/v1/models")
        return reply.status_code, reply.json()

    status, data = inprocess.run(get())
    assert status == 200, data
    assert data["object"] == "list"
    assert {"scripted", "script", "scripted-r1"} <= {m["id"] for m in data["data"]}
    assert {m["object"] for m in data["data"]} == {"model"}


BAD: list[tuple[str, dict[str, object], int, str]] = [
    # (name, body, status, code)
    ("unknown model", {"model": "gpt-9", "messages": ASK}, 404, "model_not_found"),
    ("empty messages", {"model": "scripted", "messages": []}, 400, "invalid_value"),
    (
        "bad role",
        {"model": "scripted", "messages": [{"role": "robot", "content": "x"}]},
        400,
        "invalid_value",
    ),
    (
        "temperature as text",
        {"model": "scripted", "messages": ASK, "temperature": "hot"},
        400,
        "invalid_value",
    ),
    (
        "past the context",
        {"model": "scripted", "messages": ASK, "max_tokens": 10**6},
        400,
        "context_length_exceeded",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_requests_get_openai_errors(
    inprocess: InProcess, engine: ScriptedEngine, body: dict[str, object], status: int, code: str
) -> None:
    got, data = post(inprocess, "/v1/chat/completions", body)
    assert got == status, data
    assert set(data) == {"error"}
    assert set(data["error"]) == {"message", "type", "param", "code"}
    assert data["error"]["code"] == code
    assert data["error"]["message"]
    assert engine.requests == []  # refused before generating


# A model writing its reasoning between tags, the tags split across deltas.
R1_SCRIPT = ["<thi", "nk>\nBecause light ", "scatters.</th", "ink>\n\n", "Blue", "."]


def test_reasoning_is_split_from_the_answer(inprocess: InProcess) -> None:
    inprocess.engine("scripted-r1").enqueue(R1_SCRIPT)
    status, data = post(inprocess, "/v1/chat/completions", {"model": "scripted-r1", "messages": ASK})
    assert status == 200, data
    message = data["choices"][0]["message"]
    assert message["reasoning_content"] == "Because light scatters."
    assert message["content"] == "Blue."
    assert data["choices"][0]["finish_reason"] == "stop"


def test_reasoning_is_split_in_a_stream(inprocess: InProcess) -> None:
    inprocess.engine("scripted-r1").enqueue(R1_SCRIPT)
    chunks = stream(inprocess, "/v1/chat/completions", {"model": "scripted-r1", "messages": ASK})
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    reasoning = "".join(d.get("reasoning_content") or "" for d in deltas)
    content = "".join(d.get("content") or "" for d in deltas)
    assert (reasoning, content) == ("Because light scatters.", "Blue.")
    answer_starts = next(i for i, d in enumerate(deltas) if d.get("content"))
    assert not any(d.get("reasoning_content") for d in deltas[answer_starts + 1 :])  # reasoning comes first


def test_admin_refuses_an_unknown_reasoning_parser_naming_the_known(inprocess: InProcess) -> None:
    # Any existing file passes the path check; the parser is checked before the file is read as a GGUF.
    body = {"path": __file__, "id": "parsed", "reasoning_parser": "no_such_parser"}
    status, data = post(inprocess, "/admin/models", body)
    assert status == 400, data
    error = data["error"]
    assert error["param"] == "reasoning_parser" and error["type"] == "invalid_request_error"
    assert "no_such_parser" in error["message"] and "deepseek_r1" in error["message"]

"""DeepSeek-R1-style reasoning through the whole server, on the real model behind a template that opens
``<think>`` (as the R1 distills' templates do)."""

from __future__ import annotations

import json

import httpx
import jsonschema
import openai
import pytest

from tests.conftest import Server

MODEL = "smol-r1"
ASK = [{"role": "user", "content": "Why is the sky blue?"}]


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0)


def _post(server: Server, **body: object) -> dict[str, object]:
    reply = httpx.post(
        f"{server.v1}/chat/completions", json={"model": MODEL, "messages": ASK, **body}, timeout=120
    )
    assert reply.status_code == 200, reply.text
    data: dict[str, object] = reply.json()
    return data


def _message(data: dict[str, object]) -> dict[str, object]:
    choice = data["choices"][0]  # type: ignore[index]
    return choice  # type: ignore[no-any-return]


def test_cut_off_by_max_tokens_is_all_reasoning(server: Server) -> None:
    choice = _message(_post(server, max_tokens=12, temperature=0))
    message = choice["message"]  # type: ignore[index]
    assert choice["finish_reason"] == "length"
    assert message["content"] is None
    assert message["reasoning_content"]
    assert message["reasoning"] == message["reasoning_content"]
    assert "<think>" not in message["reasoning_content"] and "</think>" not in message["reasoning_content"]


def test_thinking_budget_forces_the_end_of_reasoning(server: Server) -> None:
    data = _post(server, max_tokens=80, temperature=0, thinking_token_budget=6)
    message = _message(data)["message"]  # type: ignore[index]
    assert message["reasoning_content"]
    assert message["content"]
    assert "</think>" not in message["content"] and "</think>" not in message["reasoning_content"]
    usage = data["usage"]
    assert 0 < usage["completion_tokens_details"]["reasoning_tokens"] <= 6 + 4  # type: ignore[index]


def test_reasoning_effort_none_skips_reasoning(server: Server) -> None:
    message = _message(_post(server, max_tokens=40, temperature=0, reasoning_effort="none"))["message"]  # type: ignore[index]
    assert message["reasoning_content"] is None
    assert message["content"]


def test_stream_splits_like_non_stream_and_sends_no_empty_chunks(
    server: Server, client: openai.OpenAI
) -> None:
    kwargs = {"model": MODEL, "messages": ASK, "max_tokens": 60, "temperature": 0}
    whole = client.chat.completions.create(extra_body={"thinking_token_budget": 20}, **kwargs)  # type: ignore[call-overload]
    reasoning: list[str] = []
    content: list[str] = []
    stream = client.chat.completions.create(stream=True, extra_body={"thinking_token_budget": 20}, **kwargs)  # type: ignore[call-overload]
    for i, chunk in enumerate(stream):
        for choice in chunk.choices:
            delta = choice.delta.model_dump(exclude_none=True)
            extra = choice.delta.model_extra or {}
            if i == 0:
                assert delta == {"role": "assistant", "content": ""}
                continue
            # Every later chunk carries text or a finish reason: no chunk for a bare tag.
            assert choice.finish_reason or choice.delta.content or extra.get("reasoning_content"), delta
            if extra.get("reasoning_content"):
                assert extra["reasoning"] == extra["reasoning_content"]
                reasoning.append(extra["reasoning_content"])
            content.append(choice.delta.content or "")
    message = whole.choices[0].message
    assert "".join(reasoning) == (message.model_extra or {})["reasoning_content"]
    assert "".join(content) == message.content


def test_earlier_reasoning_is_not_fed_back(server: Server) -> None:
    plain = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ]
    with_reasoning = [dict(m) for m in plain]
    with_reasoning[1]["reasoning_content"] = "The user greets me, so I greet back. " * 20
    with_other_name = [dict(m) for m in plain]
    with_other_name[1]["reasoning"] = "vLLM's name for the same field. " * 20
    counts = [
        httpx.post(f"{server.base_url}/tokenize", json={"model": MODEL, "messages": m}).json()["count"]
        for m in (plain, with_reasoning, with_other_name)
    ]
    assert counts[0] == counts[1] == counts[2]
    answer = _post(server, messages=with_reasoning, max_tokens=8, temperature=0)
    assert _message(answer)["finish_reason"] in ("stop", "length")


def test_model_without_parser_has_no_reasoning_fields(server: Server) -> None:
    reply = httpx.post(
        f"{server.v1}/chat/completions",
        json={"model": "smollm2-135m", "messages": ASK, "max_tokens": 8, "temperature": 0},
        timeout=60,
    ).json()
    message = reply["choices"][0]["message"]
    assert message["reasoning_content"] is None and message["content"]


def test_json_schema_applies_to_the_answer_not_the_reasoning(server: Server) -> None:
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string", "enum": ["blue", "red", "green"]}},
        "required": ["colour"],
        "additionalProperties": False,
    }
    data = _post(
        server,
        max_tokens=60,
        temperature=0,
        thinking_token_budget=8,
        response_format={"type": "json_schema", "json_schema": {"name": "sky", "schema": schema}},
    )
    choice = _message(data)
    message = choice["message"]  # type: ignore[index]
    assert choice["finish_reason"] == "stop"
    assert message["reasoning_content"]  # free text, not JSON
    jsonschema.validate(json.loads(message["content"]), schema)

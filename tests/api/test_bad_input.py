"""Every bad request gets a clear 4xx in OpenAI's error shape, and the server keeps serving."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Server

OK_MESSAGES = [{"role": "user", "content": "Hi"}]


def chat(**fields: object) -> dict[str, object]:
    return {"model": "smollm2-135m", "messages": OK_MESSAGES, "max_tokens": 4, **fields}


CASES: list[tuple[str, str, bytes | dict[str, object], int, str | None, str | None]] = [
    # (name, path, body, status, code, param)
    (
        "malformed json",
        "/v1/chat/completions",
        b'{"model": "smollm2-135m", "messages": [',
        400,
        "invalid_json",
        None,
    ),
    ("not an object", "/v1/chat/completions", b"[1, 2, 3]", 400, "invalid_value", None),
    (
        "invalid utf-8",
        "/v1/chat/completions",
        b'{"model": "smollm2-135m", "messages": "\xff\xfe"}',
        400,
        "invalid_encoding",
        None,
    ),
    ("messages wrong type", "/v1/chat/completions", chat(messages="hello"), 400, "invalid_value", "messages"),
    (
        "content wrong type",
        "/v1/chat/completions",
        chat(messages=[{"role": "user", "content": 5}]),
        400,
        "invalid_value",
        "messages.0.content",
    ),
    (
        "temperature wrong type",
        "/v1/chat/completions",
        chat(temperature="hot"),
        400,
        "invalid_value",
        "temperature",
    ),
    ("missing model", "/v1/chat/completions", {"messages": OK_MESSAGES}, 400, "invalid_value", "model"),
    ("unknown model", "/v1/chat/completions", chat(model="gpt-9"), 404, "model_not_found", "model"),
    ("empty messages", "/v1/chat/completions", chat(messages=[]), 400, "invalid_value", "messages"),
    (
        "bad role",
        "/v1/chat/completions",
        chat(messages=[{"role": "robot", "content": "x"}]),
        400,
        "invalid_value",
        "messages.0",
    ),
    ("negative max_tokens", "/v1/chat/completions", chat(max_tokens=-5), 400, "invalid_value", "max_tokens"),
    (
        "zero max_completion_tokens",
        "/v1/chat/completions",
        chat(max_completion_tokens=0),
        400,
        "invalid_value",
        "max_completion_tokens",
    ),
    (
        "absurd max_tokens",
        "/v1/chat/completions",
        chat(max_tokens=10**9),
        400,
        "context_length_exceeded",
        "max_tokens",
    ),
    (
        "prompt over context",
        "/v1/chat/completions",
        chat(messages=[{"role": "user", "content": "word " * 2500}], max_tokens=None),
        400,
        "context_length_exceeded",
        "messages",
    ),
    (
        "temperature above 2",
        "/v1/chat/completions",
        chat(temperature=2.5),
        400,
        "invalid_value",
        "temperature",
    ),
    (
        "temperature below 0",
        "/v1/chat/completions",
        chat(temperature=-0.1),
        400,
        "invalid_value",
        "temperature",
    ),
    ("top_p zero", "/v1/chat/completions", chat(top_p=0), 400, "invalid_value", "top_p"),
    ("n over cap", "/v1/chat/completions", chat(n=50), 400, None, "n"),
    ("n zero", "/v1/chat/completions", chat(n=0), 400, "invalid_value", "n"),
    (
        "too many stops",
        "/v1/chat/completions",
        chat(stop=["a", "b", "c", "d", "e"]),
        400,
        "invalid_value",
        None,
    ),
    (
        "top_logprobs without logprobs",
        "/v1/chat/completions",
        chat(top_logprobs=2),
        400,
        "invalid_value",
        None,
    ),
    (
        "json_schema without schema",
        "/v1/chat/completions",
        chat(response_format={"type": "json_schema"}),
        400,
        "invalid_value",
        "response_format",
    ),
    (
        "unknown response_format",
        "/v1/chat/completions",
        chat(response_format={"type": "xml"}),
        400,
        "invalid_value",
        "response_format.type",
    ),
    (
        "completion empty prompt list",
        "/v1/completions",
        {"model": "smollm2-135m", "prompt": []},
        400,
        "invalid_value",
        None,
    ),
    (
        "completion token out of vocab",
        "/v1/completions",
        {"model": "smollm2-135m", "prompt": [10**7]},
        400,
        None,
        "prompt",
    ),
    ("generate without prompt", "/generate", {"max_length": 3}, 400, "invalid_value", "prompt"),
    ("generate empty prompt", "/generate", {"prompt": "", "max_length": 3}, 400, "invalid_value", "prompt"),
    (
        "tokenize both inputs",
        "/tokenize",
        {"prompt": "a", "messages": OK_MESSAGES},
        400,
        "invalid_value",
        None,
    ),
    (
        "body over limit",
        "/v1/chat/completions",
        chat(messages=[{"role": "user", "content": "x" * 70000}]),
        413,
        "payload_too_large",
        None,
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "param"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input_gets_openai_error(
    server: Server,
    path: str,
    body: bytes | dict[str, object],
    status: int,
    code: str | None,
    param: str | None,
) -> None:
    url = f"{server.base_url}{path}"
    if isinstance(body, bytes):
        reply = httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=30)
    else:
        reply = httpx.post(url, json=body, timeout=30)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == code
    assert error["param"] == param
    assert reply.headers["x-request-id"]
    # ...and the server still answers a normal request.
    ok = httpx.post(f"{server.base_url}/v1/chat/completions", json=chat(temperature=0), timeout=60)
    assert ok.status_code == 200, ok.text
    assert ok.json()["choices"][0]["message"]["content"] is not None


def test_context_error_names_the_counts(server: Server) -> None:
    reply = httpx.post(f"{server.base_url}/v1/chat/completions", json=chat(max_tokens=5000), timeout=30)
    message = reply.json()["error"]["message"]
    assert "2048" in message and "5000" in message


def test_unknown_route_is_openai_shaped(server: Server) -> None:
    reply = httpx.get(f"{server.base_url}/v1/nothing-here")
    assert reply.status_code == 404
    assert reply.json()["error"]["type"] == "not_found_error"

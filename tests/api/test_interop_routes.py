"""Interop routes in process, on scripted engines: vLLM's ``GET /tokenizer_info`` and the tokenizer calls
lm-evaluation-harness makes, a JSON 404 in OpenAI's shape for every unknown API path and every non-GET
request to an unknown path (never the console's page), and the refusals of prompt scoring (echo with
logprobs, ``max_tokens: 0``) where it cannot be done. The same routes on the real model:
tests/api/test_prompt_logprobs.py and tests/api/test_lm_eval_interop.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import InProcess, in_process

CONFIG: dict[str, object] = {
    "models": [
        {"id": "scripted", "engine": "scripted", "n_ctx": 512},
        # A center's model: nothing listens there, and no text completion may be sent there.
        {"id": "far", "upstream": "http://127.0.0.1:9/v1"},
    ],
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    with in_process(CONFIG, tmp_path_factory.mktemp("interop")) as served:
        yield served


def send(app: InProcess, method: str, path: str, body: object = None) -> tuple[int, dict[str, str], Any]:
    async def go() -> tuple[int, dict[str, str], Any]:
        reply = await app.client.request(method, path, json=body)
        is_json = reply.headers.get("content-type", "").startswith("application/json")
        return reply.status_code, dict(reply.headers), reply.json() if is_json else reply.text

    return app.run(go())


def assert_openai_error(status: int, headers: dict[str, str], data: Any, expected: int) -> dict[str, Any]:
    assert status == expected, data
    assert headers["content-type"].startswith("application/json"), data
    error: dict[str, Any] = data["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


def test_tokenizer_info_has_what_lm_eval_reads(app: InProcess) -> None:
    status, headers, data = send(app, "GET", "/tokenizer_info")
    assert status == 200 and headers["content-type"].startswith("application/json"), data
    # lm-eval's auto-detection needs a JSON object with the key `eos_token` (its value may be null).
    assert set(data) >= {"tokenizer_class", "bos_token", "eos_token", "pad_token", "model_max_length"}
    assert data["model"] == "scripted" and data["model_max_length"] == 512
    assert send(app, "GET", "/tokenizer_info?model=nope")[0] == 404


def test_tokenize_and_detokenize_take_what_lm_eval_sends(app: InProcess) -> None:
    # lm_eval.utils.RemoteTokenizer: encode() and decode(), exactly these bodies.
    status, _, data = send(app, "POST", "/tokenize", {"prompt": "test", "add_special_tokens": False})
    assert status == 200 and data["tokens"] == [ord(c) for c in "test"], data
    status, _, data = send(app, "POST", "/detokenize", {"tokens": data["tokens"]})
    assert status == 200 and data == {"prompt": "test"}
    # vLLM's token_strs on request.
    status, _, data = send(app, "POST", "/tokenize", {"prompt": "ab", "return_token_strs": True})
    assert status == 200 and data["token_strs"] == ["a", "b"], data


UNKNOWN = [
    ("GET", "/tokenizer_info/extra"),
    ("GET", "/v1/nothing-here"),
    ("GET", "/v1"),
    ("GET", "/v1/completions/extra"),
    ("GET", "/admin/nothing"),
    ("GET", "/generate/more"),
    ("GET", "/health/deep"),
    ("POST", "/nothing"),
    ("POST", "/c/some-conversation"),
    ("PUT", "/manage"),
    ("DELETE", "/v1/nothing"),
    ("PATCH", "/assets/x.js"),
    ("POST", "/"),
]


@pytest.mark.parametrize(("method", "path"), UNKNOWN, ids=[f"{m} {p}" for m, p in UNKNOWN])
def test_unknown_api_paths_and_non_get_requests_get_a_json_404(
    app: InProcess, method: str, path: str
) -> None:
    error = assert_openai_error(*send(app, method, path), 404)
    assert error["type"] == "not_found_error"
    assert error["message"] == f"Invalid URL ({method} {path})"


@pytest.mark.parametrize("path", ["/", "/c/some-conversation", "/manage"])
def test_the_console_keeps_its_own_routes(app: InProcess, path: str) -> None:
    status, headers, body = send(app, "GET", path)
    assert status == 200 and headers["content-type"].startswith("text/html"), body
    assert "<html" in body.lower()


def completion(**fields: object) -> dict[str, object]:
    return {"model": "scripted", "prompt": "Question: 2+2?\nAnswer: 4", **fields}


REFUSED = [
    # (name, body, status, param, words the message must hold)
    (
        "echo+logprobs on a center's model",
        completion(model="far", echo=True, logprobs=1),
        400,
        "model",
        "center",
    ),
    (
        "prompt only on a center's model",
        completion(model="far", echo=True, logprobs=1, max_tokens=0),
        400,
        "model",
        "log-probabilities",
    ),
    ("text completion on a center's model", completion(model="far"), 400, "model", "chat/completions"),
    (
        "echo+logprobs on an engine without prompt logprobs",
        completion(echo=True, logprobs=0),
        400,
        "logprobs",
        "scripted",
    ),
    ("prompt only on such an engine", completion(echo=True, max_tokens=0), 400, "max_tokens", "max_tokens 0"),
    ("max_tokens 0 without echo", completion(max_tokens=0), 400, None, "echo"),
    ("negative max_tokens", completion(echo=True, max_tokens=-1), 400, "max_tokens", "max_tokens"),
    ("logprobs over 5", completion(echo=True, logprobs=6, max_tokens=0), 400, "logprobs", "logprobs"),
    ("negative logprobs", completion(echo=True, logprobs=-1), 400, "logprobs", "logprobs"),
]


@pytest.mark.parametrize(
    ("body", "status", "param", "words"), [pytest.param(*case[1:], id=case[0]) for case in REFUSED]
)
def test_prompt_scoring_is_refused_where_it_cannot_be_done(
    app: InProcess, body: dict[str, object], status: int, param: str | None, words: str
) -> None:
    error = assert_openai_error(*send(app, "POST", "/v1/completions", body), status)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert words in error["message"], error


def test_echo_without_logprobs_still_works_on_such_an_engine(app: InProcess) -> None:
    status, _, data = send(app, "POST", "/v1/completions", completion(echo=True, max_tokens=3))
    assert status == 200, data
    assert data["choices"][0]["text"].startswith("Question: 2+2?\nAnswer: 4")

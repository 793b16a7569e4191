"""Guards on a real server: personal data masked for the model and restored for the client, or refused;
answers reviewed against a lexicon, in streams and non-streams alike; policy hits in the audit trail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.helpers import JsonEndpoint, loopback_http

PHONE = "13812345678"
ID_CARD = "11010519491231002X"
EMAIL = "zhang.san@example.com"
HELLO = [{"role": "user", "content": "Say hello."}]
# The answer is held to one line by a grammar (a JSON-schema enum), so it does not hang on what greedy
# decoding makes of the weights on this CPU; the test lexicon bans a phrase of it. The line is longer than
# max_tokens, so an unflagged answer ends with `length`.
LINE = (
    "Hello! I'm a helpful AI, designed to assist you with questions about science, history, languages, "
    "cooking, travel and much more, on every single day of the week."
)
SAY_LINE = {
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "line", "schema": {"type": "string", "enum": [LINE]}},
    }
}
BANNED = "helpful AI"


def config(tmp: Path, action: str) -> dict[str, object]:
    lexicon = tmp / "test-lexicon.txt"
    lexicon.write_text(f"# test lexicon\ntest\t{BANNED}\n", encoding="utf-8")
    return {
        "models": [{"id": "smollm2-135m", "n_ctx": 1024, "n_parallel": 2}],
        "guard": {"moderation": {"action": action, "lexicons": ["zh-default", "en-default", str(lexicon)]}},
    }


@pytest.fixture(scope="module")
def stopping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("guard-stop")
    server = start_server(config(tmp, "stop"), tmp)
    yield server
    stop_server(server)


def chat(server: Server, messages: list[dict[str, str]], **extra: object) -> httpx.Response:
    body = {"model": "smollm2-135m", "max_tokens": 24, "temperature": 0, "messages": messages, **extra}
    return httpx.post(f"{server.v1}/chat/completions", json=body, timeout=60)


def streamed(server: Server, messages: list[dict[str, str]], **extra: object) -> tuple[str, list[str]]:
    body = {"model": "smollm2-135m", "max_tokens": 24, "temperature": 0, "messages": messages, "stream": True}
    text, finishes = [], []
    with httpx.stream("POST", f"{server.v1}/chat/completions", json={**body, **extra}, timeout=60) as reply:
        for line in reply.iter_lines():
            if line.startswith("data: {"):
                for choice in json.loads(line[6:])["choices"]:
                    text.append(choice["delta"].get("content") or "")
                    if choice["finish_reason"]:
                        finishes.append(choice["finish_reason"])
    return "".join(text), finishes


def audit_actions(server: Server) -> list[dict[str, object]]:
    data_dir = server.log_path.parent / "data"
    env = {**os.environ, "DEEPFORT_DATA_DIR": str(data_dir)}
    out = subprocess.run(
        [sys.executable, "-m", "deepfort", "audit", "show", "--json"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    entries: list[dict[str, object]] = json.loads(out.stdout)
    return entries


def test_masked_values_come_back_to_the_client(stopping: Server) -> None:
    # The grammar makes the model answer with the placeholder it was shown; the client gets its number.
    schema = {"type": "string", "enum": ["[手机号_1]"]}
    reply = chat(
        stopping,
        [{"role": "user", "content": f"我的手机号是{PHONE}，请记下。"}],
        response_format={"type": "json_schema", "json_schema": {"name": "echo", "schema": schema}},
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == json.dumps(PHONE)
    entry = [e for e in audit_actions(stopping) if e["action"] == "guard.pii"][-1]
    assert entry["detail"]["kinds"] == {"phone": 1} and entry["detail"]["policy"] == "mask"  # type: ignore[index]
    assert PHONE not in json.dumps(entry, ensure_ascii=False)


def prompt_tokens(server: Server, content: str) -> int:
    messages = [{"role": "user", "content": content}]
    reply = httpx.post(f"{server.base_url}/tokenize", json={"model": "smollm2-135m", "messages": messages})
    assert reply.status_code == 200, reply.text
    count: int = reply.json()["count"]
    return count


@pytest.mark.parametrize(
    ("sent", "seen"),
    [
        (f"我的手机号是{PHONE}，请记下。", "我的手机号是[手机号_1]，请记下。"),
        (f"身份证{ID_CARD}，邮箱 {EMAIL}", "身份证[身份证号_1]，邮箱 [邮箱_1]"),
    ],
    ids=["phone", "id card and email"],
)
def test_the_model_is_given_placeholders_not_values(stopping: Server, sent: str, seen: str) -> None:
    # What the engine received, counted: the prompt of the masked text, not the client's.
    reply = chat(stopping, [{"role": "user", "content": sent}], max_tokens=1)
    assert reply.status_code == 200, reply.text
    assert prompt_tokens(stopping, seen) != prompt_tokens(stopping, sent)
    assert reply.json()["usage"]["prompt_tokens"] == prompt_tokens(stopping, seen)


class RecordingCenter(JsonEndpoint):
    """An OpenAI-compatible center that keeps the bodies it is sent and answers with the placeholder of the
    first phone number, as a model shown the masked text would."""

    received: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        self.send_json(
            200, json.dumps({"object": "list", "data": [{"id": "big", "object": "model"}]}).encode()
        )

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "big"}
        events = [
            {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "[手机号_1]"}}]},
            {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {
                **chunk,
                "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
            },
        ]
        body = "".join(f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events) + "data: [DONE]\n\n"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.mark.e2e
def test_a_center_is_sent_placeholders_not_values(tmp_path: Path) -> None:
    RecordingCenter.received.clear()
    with loopback_http(RecordingCenter) as url:
        models = [{"id": "smollm2-135m", "n_ctx": 512}, {"id": "big", "upstream": f"{url}/v1"}]
        server = start_server({"models": models}, tmp_path)
        try:
            sent = f"我的手机号是{PHONE}，邮箱 {EMAIL}"
            reply = chat(server, [{"role": "user", "content": sent}], model="big")
        finally:
            stop_server(server)
    assert reply.status_code == 200, reply.text
    [received] = RecordingCenter.received
    assert received["messages"][-1]["content"] == "我的手机号是[手机号_1]，邮箱 [邮箱_1]"
    assert PHONE not in json.dumps(received) and EMAIL not in json.dumps(received)
    assert reply.json()["choices"][0]["message"]["content"] == PHONE  # restored for the client


def test_moderation_stops_the_answer_in_streams_and_non_streams_alike(stopping: Server) -> None:
    whole = chat(stopping, HELLO, **SAY_LINE).json()["choices"][0]
    assert whole["finish_reason"] == "content_filter"
    assert BANNED not in whole["message"]["content"] and whole["message"]["content"].startswith('"Hello')
    text, finishes = streamed(stopping, HELLO, **SAY_LINE)
    assert finishes == ["content_filter"]
    assert text == whole["message"]["content"]
    # The server goes on answering.
    assert chat(stopping, [{"role": "user", "content": "Count to three."}]).status_code == 200
    entry = [e for e in audit_actions(stopping) if e["action"] == "guard.moderation"][-1]
    assert entry["detail"]["categories"] == {"test": 1}  # type: ignore[index]


@pytest.mark.e2e
def test_redact_replaces_the_phrase_and_goes_on(tmp_path: Path) -> None:
    server = start_server(config(tmp_path, "redact"), tmp_path)
    try:
        whole = chat(server, HELLO, **SAY_LINE).json()["choices"][0]
        text, finishes = streamed(server, HELLO, **SAY_LINE)
    finally:
        stop_server(server)
    assert BANNED not in whole["message"]["content"] and "[已屏蔽]" in whole["message"]["content"]
    assert whole["finish_reason"] == "length" and finishes == ["length"]
    assert text == whole["message"]["content"]


@pytest.mark.e2e
def test_block_policy_refuses_naming_kinds_never_values(tmp_path: Path) -> None:
    cfg = config(tmp_path, "stop")
    cfg["guard"] = {**cfg["guard"], "pii": {"policy": "block"}}  # type: ignore[dict-item]
    server = start_server(cfg, tmp_path)
    try:
        message = f"身份证{ID_CARD}，电话{PHONE}"
        refused = chat(server, [{"role": "user", "content": message}])
        clean = chat(server, [{"role": "user", "content": "你好"}])
        actions = audit_actions(server)
    finally:
        stop_server(server)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (
        error["code"] == "sensitive_input" and "身份证号" in error["message"] and "手机号" in error["message"]
    )
    assert PHONE not in refused.text and ID_CARD not in refused.text
    assert clean.status_code == 200
    assert any(e["action"] == "guard.pii" and e["detail"]["policy"] == "block" for e in actions)  # type: ignore[index]


class ModerationApi(JsonEndpoint):
    """A scripted OpenAI-style moderation endpoint (the third-party service cannot run here)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        flagged = {"/flagged": True, "/clean": False}.get(self.path)
        if flagged is None:
            status, body = 500, b'{"error": "down"}'
        else:
            status, body = (
                200,
                json.dumps({"results": [{"flagged": flagged, "categories": {"x": flagged}}]}).encode(),
            )
        self.send_json(status, body)


@pytest.fixture(scope="module")
def moderation_api() -> Iterator[str]:
    with loopback_http(ModerationApi) as url:
        yield url


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("path", "fail_open", "flagged"),
    [("/flagged", True, True), ("/clean", True, False), ("/error", True, False), ("/error", False, True)],
    ids=["flagged", "clean", "down, fail-open", "down, fail-closed"],
)
def test_external_moderation_api(
    moderation_api: str,
    tmp_path: Path,
    path: str,
    fail_open: bool,
    flagged: bool,
) -> None:
    cfg = config(tmp_path, "stop")
    moderation = {"lexicons": ["en-default"], "external_url": moderation_api + path, "fail_open": fail_open}
    cfg["guard"] = {"moderation": moderation}
    server = start_server(cfg, tmp_path)
    try:
        whole = chat(server, HELLO, **SAY_LINE).json()["choices"][0]
        _, finishes = streamed(server, HELLO, **SAY_LINE)
    finally:
        stop_server(server)
    if flagged:
        # A flagged answer is withheld whole; a streamed one (already sent) ends as content_filter.
        assert whole["finish_reason"] == "content_filter" and whole["message"]["content"] == ""
        assert finishes == ["content_filter"]
    else:
        assert whole["finish_reason"] == "length" and BANNED in whole["message"]["content"]
        assert finishes == ["length"]


def test_completions_are_guarded_too(stopping: Server) -> None:
    body = {"model": "smollm2-135m", "max_tokens": 6, "temperature": 0, "echo": True}
    reply = httpx.post(
        f"{stopping.v1}/completions", json={**body, "prompt": f"Call me at {PHONE}."}, timeout=60
    ).json()
    # The echo shows the client's own prompt; the model was given the placeholder.
    assert reply["choices"][0]["text"].startswith(f"Call me at {PHONE}.")
    entry = [e for e in audit_actions(stopping) if e["action"] == "guard.pii"][-1]
    assert entry["detail"]["kinds"] == {"phone": 1}  # type: ignore[index]


def test_feedback_on_a_text_completion(stopping: Server) -> None:
    body = {"model": "smollm2-135m", "max_tokens": 3, "prompt": "Once upon a time"}
    completion = httpx.post(f"{stopping.v1}/completions", json=body, timeout=60).json()
    verdict = {"response_id": completion["id"], "rating": "up"}
    assert httpx.post(f"{stopping.v1}/feedback", json=verdict, timeout=30).status_code == 201

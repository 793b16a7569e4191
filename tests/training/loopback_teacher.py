"""A scripted OpenAI-compatible teacher on a loopback port: uvicorn in a thread (not a process), answering
``POST /v1/chat/completions`` from a table.

Each entry of the table is a phrase that picks the question and the answers to its samples in order
(sample ``i`` is the request whose ``seed`` is the base seed plus ``i``, as ``deepfort eval``'s runner asks);
a sample past the list gets the last answer. A judge's question ("You are grading an answer ...") is
answered PASS when the graded answer holds one of ``pass_phrases``, else FAIL. A question that matches no
entry is refused with 400, so a test sees at once when something was asked that it did not script.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.helpers import wait_until

MODEL = "teacher-r1"
_GRADE = "Answer to grade:\n"


@dataclass(frozen=True)
class Answer:
    """One scripted reply: the answer text and the reasoning, sent as ``reasoning_content`` (DeepSeek),
    ``reasoning`` (vLLM's newer field) or a ``<think>`` block in the content (``field``)."""

    content: str
    reasoning: str = ""
    field: str = "reasoning_content"
    finish_reason: str = "stop"

    def message(self) -> dict[str, Any]:
        if self.field == "think" and self.reasoning:
            return {"role": "assistant", "content": f"<think>{self.reasoning}</think>{self.content}"}
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.reasoning:
            message[self.field] = self.reasoning
        return message


@dataclass
class Teacher:
    url: str
    asked: list[dict[str, Any]] = field(default_factory=list)
    """Every request body, in arrival order."""

    def questions(self) -> list[str]:
        """The user turns of the requests that were not a judge's."""
        texts = [body["messages"][-1]["content"] for body in self.asked]
        return [text for text in texts if not text.startswith("You are grading")]


def _app(
    table: Mapping[str, Sequence[Answer]], base_seed: int, pass_phrases: Sequence[str], teacher: Teacher
) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL, "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        teacher.asked.append(body)
        text = body["messages"][-1]["content"]
        if text.startswith("You are grading"):
            graded = text.split(_GRADE, 1)[1]
            verdict = "PASS" if any(phrase in graded for phrase in pass_phrases) else "FAIL"
            answer = Answer(f"Checked against the criteria.\nVERDICT: {verdict}")
        else:
            found = [answers for phrase, answers in table.items() if phrase in text]
            if len(found) != 1:
                message = f"no scripted answer for {text[:80]!r}"
                return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, 400)
            sample = int(body.get("seed", base_seed)) - base_seed
            answer = found[0][min(sample, len(found[0]) - 1)]
        return {
            "id": f"chatcmpl-{len(teacher.asked)}",
            "object": "chat.completion",
            "model": MODEL,
            "choices": [{"index": 0, "message": answer.message(), "finish_reason": answer.finish_reason}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
        }

    return app


@contextmanager
def loopback_teacher(
    table: Mapping[str, Sequence[Answer]], *, base_seed: int, pass_phrases: Sequence[str] = ()
) -> Iterator[Teacher]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    teacher = Teacher(url=f"http://127.0.0.1:{sock.getsockname()[1]}/v1")
    config = uvicorn.Config(
        _app(table, base_seed, pass_phrases, teacher),
        lifespan="off",
        ws="none",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, "the scripted teacher is listening", limit=30)
        yield teacher
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()

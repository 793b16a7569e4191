"""Shaping chat completion chunks, shared by local and forwarded runs."""

from __future__ import annotations

import json

from deepfort.protocol import Usage
from deepfort.routing.route import Route


def choice_chunk(
    index: int, delta: dict[str, object], *, logprobs: object = None, finish: str | None = None
) -> dict[str, object]:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}


def text_delta(content: str, reasoning: str) -> dict[str, object]:
    body: dict[str, object] = {}
    if content:
        body["content"] = content
    if reasoning:
        body["reasoning_content"] = body["reasoning"] = reasoning
    return body


class ChunkWriter:
    """``ChatCompletionChunk`` JSON texts for one response. Built as plain dicts: one is serialised per
    token and per stream, and pydantic models cost several times more on this hot path."""

    def __init__(self, response_id: str, created: int, model: str, route: Route | None) -> None:
        self.response_id = response_id
        self.created = created
        self.model = model
        self.route = route
        self._first = True

    def chunk(self, choices: list[dict[str, object]], usage: Usage | None = None) -> str:
        body: dict[str, object] = {
            "id": self.response_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": None if usage is None else usage.model_dump(),
            "system_fingerprint": None,
        }
        if self._first and self.route is not None:
            body["route"] = self.route.as_dict()
        self._first = False
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))

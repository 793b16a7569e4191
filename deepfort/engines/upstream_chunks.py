"""Read the chunks of an OpenAI-compatible chat completion stream into normalised message events.

Servers disagree on where reasoning goes:

- ``delta.reasoning_content``: DeepSeek's API, SGLang, llama-server, vLLM before 0.16;
- ``delta.reasoning``: vLLM >= 0.16, Ollama (vLLM releases in between send both, with the same text);
- ``<think>...</think>`` inside ``delta.content``: any server without a reasoning parser.

:class:`ChunkReader` takes the stream's events one at a time and returns :class:`MessageEvent` values in
which reasoning and content are already apart, keeping choices (``index``) separate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from deepfort.engines.messages import MessageEvent, MessageUsage
from deepfort.engines.sse import ServerEvent
from deepfort.errors import UpstreamError
from deepfort.reasoning import ReasoningDelta, ReasoningParser, get_parser

__all__ = ["ChunkReader", "ThinkInContent", "error_message", "read_usage"]

ThinkInContent = Literal["auto", "always", "never"]


def error_message(body: object) -> str | None:
    """The message of an OpenAI error object (``{"error": {"message"}}``), of the flat form that SGLang and
    older vLLM send (``{"object": "error", "message"}``), or of ``{"error": "text"}``; None for others."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if isinstance(error, str):
        return error
    if body.get("object") == "error":
        return str(body.get("message") or body)
    return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def read_usage(usage: dict[str, Any]) -> MessageUsage:
    """OpenAI usage, with reasoning tokens from ``completion_tokens_details`` (OpenAI, DeepSeek, vLLM) or
    from a top-level ``reasoning_tokens`` (SGLang)."""
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return MessageUsage(
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        reasoning_tokens=_count(reasoning if reasoning is not None else usage.get("reasoning_tokens")),
    )


@dataclass
class _Choice:
    parser: ReasoningParser | None = None
    saw_reasoning_field: bool = False
    finished: bool = False


class ChunkReader:
    """Normalise one stream's chunks. ``think_in_content`` says how ``<think>`` in content is treated:

    - ``"auto"``: parsed as DeepSeek-R1 output when a choice's content starts (after whitespace) with the
      tag, unless the server already sent that choice's reasoning in a field (it has its own parser);
    - ``"always"``: content is always R1 output; with ``prompt_opens_reasoning`` the template already
      opened the block, so content up to ``</think>`` is reasoning;
    - ``"never"``: content passes through verbatim.
    """

    def __init__(
        self, think_in_content: ThinkInContent = "auto", *, prompt_opens_reasoning: bool = False
    ) -> None:
        self._mode = think_in_content
        self._prompt_opens = prompt_opens_reasoning and think_in_content == "always"
        self._choices: dict[int, _Choice] = {}
        self.usage: MessageUsage | None = None
        self.done = False
        """``data: [DONE]`` has arrived."""

    @property
    def complete(self) -> bool:
        """The answer is whole: ``[DONE]`` arrived, or every choice seen (at least one) has finished."""
        return self.done or (bool(self._choices) and all(c.finished for c in self._choices.values()))

    def feed_event(self, event: ServerEvent) -> list[MessageEvent]:
        """Events for one server-sent event; raises :class:`UpstreamError` for an error event or object,
        and for data that is not JSON."""
        if event.event == "error":
            try:
                body: object = json.loads(event.data)
            except ValueError:
                body = None
            message = error_message(body) or (body.get("message") if isinstance(body, dict) else None)
            raise UpstreamError(f"the center failed while generating: {message or event.data[:300]}")
        if event.data.strip() == "[DONE]":
            self.done = True
            return []
        try:
            chunk = json.loads(event.data)
        except ValueError as exc:
            raise UpstreamError(
                f"the center sent a stream event that is not JSON: {event.data[:200]}"
            ) from exc
        return self.feed(chunk)

    def feed(self, chunk: object) -> list[MessageEvent]:
        """Events for one decoded chunk; raises :class:`UpstreamError` for an error object or a chunk that
        is not shaped like one."""
        message = error_message(chunk)
        if message is not None:
            raise UpstreamError(f"the center failed while generating: {message}")
        if not isinstance(chunk, dict):
            raise UpstreamError(f"the center sent an unreadable stream chunk: {str(chunk)[:200]}")
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = read_usage(usage)
        choices = chunk.get("choices") or []
        if not isinstance(choices, list) or not all(isinstance(choice, dict) for choice in choices):
            raise UpstreamError(f"the center sent a chunk with unreadable choices: {str(chunk)[:200]}")
        events = [self._choice_event(choice) for choice in choices]
        return [event for event in events if event]

    def finish(self) -> list[MessageEvent]:
        """The stream ended: flush text held back for choices that never sent a ``finish_reason``."""
        events = []
        for index, choice in self._choices.items():
            if not choice.finished and choice.parser is not None:
                held = choice.parser.finish()
                events.append(MessageEvent(index=index, content=held.content, reasoning=held.reasoning))
            choice.finished = True
        return [event for event in events if event]

    def _choice_event(self, raw: dict[str, Any]) -> MessageEvent:
        index = _count(raw.get("index"))
        choice = self._choices.setdefault(index, _Choice())
        delta = raw.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        # vLLM releases between the rename and the removal send both fields with the same text: take one.
        field_reasoning = _text(delta.get("reasoning_content")) or _text(delta.get("reasoning"))
        content = _text(delta.get("content"))
        finish_reason = raw.get("finish_reason")
        if choice.finished:
            if field_reasoning or content:
                raise UpstreamError(f"the center sent more text for choice {index} after it finished")
            return MessageEvent(index=index)
        choice.saw_reasoning_field = choice.saw_reasoning_field or bool(field_reasoning)
        parsed = self._parse_content(choice, content)
        if isinstance(finish_reason, str):
            choice.finished = True
            if choice.parser is not None:
                parsed = parsed + choice.parser.finish()
        return MessageEvent(
            index=index,
            content=parsed.content,
            reasoning=field_reasoning + parsed.reasoning,
            finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        )

    def _parse_content(self, choice: _Choice, content: str) -> ReasoningDelta:
        if choice.parser is None and content and self._wants_parser(choice):
            choice.parser = get_parser("deepseek_r1")(prompt_opens_reasoning=self._prompt_opens)
        if choice.parser is None:
            return ReasoningDelta(content=content)
        return choice.parser.feed(content)

    def _wants_parser(self, choice: _Choice) -> bool:
        if self._mode == "always":
            return True
        # In auto mode the R1 parser itself decides from the first non-whitespace text: without a leading
        # <think> it passes everything through as content.
        return self._mode == "auto" and not choice.saw_reasoning_field

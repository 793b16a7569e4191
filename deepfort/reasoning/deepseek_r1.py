"""Reasoning parser for DeepSeek-R1 style output: ``<think>reasoning</think>content``."""

from __future__ import annotations

import enum

from deepfort.reasoning.base import ReasoningDelta, ReasoningParser, register_parser

__all__ = ["DeepSeekR1ReasoningParser"]


class _State(enum.Enum):
    OPENING = enum.auto()  # nothing but whitespace (and maybe part of the start tag) seen yet
    REASONING_START = enum.auto()  # inside reasoning, still dropping its leading whitespace
    REASONING = enum.auto()
    CONTENT_START = enum.auto()  # after the end tag, still dropping leading whitespace
    CONTENT = enum.auto()  # verbatim to the end; later tags are just text


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag`` (0 if none)."""
    for length in range(min(len(text), len(tag) - 1), 0, -1):
        if text.endswith(tag[:length]):
            return length
    return 0


@register_parser
class DeepSeekR1ReasoningParser(ReasoningParser):
    """Split ``<think>...</think>`` reasoning from the answer, one streamed delta at a time.

    Rules, which hold for any chunking of the same text:

    * The output is reasoning only if it begins (after optional whitespace) with ``<think>``, or if the
      prompt already opened it (``prompt_opens_reasoning=True``; a redundant ``<think>`` that the model
      emits anyway is then dropped). Otherwise the whole output is content, verbatim.
    * Reasoning ends at the first ``</think>``; everything after it is content, further tags included.
    * Tags never appear in the output. Reasoning is stripped of whitespace at both ends, content of
      whitespace at its start (after ``</think>``).
    * A stream cut off inside reasoning leaves everything as reasoning, including a partial end tag.
    """

    name = "deepseek_r1"
    start_tag = "<think>"
    end_tag = "</think>"

    def __init__(self, *, prompt_opens_reasoning: bool = False) -> None:
        super().__init__(prompt_opens_reasoning=prompt_opens_reasoning)
        self._state = _State.OPENING
        # Text received but not yet classified: whitespace that may be trimmed, or a possibly split tag.
        self._held = ""
        self._finished = False

    @property
    def in_reasoning(self) -> bool:
        if self._state is _State.OPENING:
            return self._prompt_opened
        return self._state in (_State.REASONING_START, _State.REASONING)

    def feed(self, text: str) -> ReasoningDelta:
        if self._finished:
            raise RuntimeError("feed() called after finish()")
        buf = self._held + text
        self._held = ""
        reasoning: list[str] = []
        content: list[str] = []
        # Each step either consumes the buffer and moves to a later state, or holds what is left and stops;
        # states only move forward, so the loop ends.
        while True:
            if self._state is _State.OPENING:
                body = buf.lstrip()
                if body.startswith(self.start_tag):
                    buf = body[len(self.start_tag) :]
                    self._state = _State.REASONING_START
                elif self.start_tag.startswith(body):
                    # Only whitespace, or a start tag still arriving: undecided.
                    self._held = buf
                    break
                elif self._prompt_opened:
                    self._state = _State.REASONING_START
                else:
                    self._state = _State.CONTENT
            elif self._state is _State.REASONING_START:
                buf = buf.lstrip()
                if not buf:
                    break
                self._state = _State.REASONING
            elif self._state is _State.REASONING:
                end = buf.find(self.end_tag)
                if end >= 0:
                    reasoning.append(buf[:end].rstrip())
                    buf = buf[end + len(self.end_tag) :]
                    self._state = _State.CONTENT_START
                    continue
                # Hold a possible start of the end tag, and the whitespace before it: if the tag does
                # follow, that whitespace ends the reasoning and is trimmed.
                partial = _partial_suffix(buf, self.end_tag)
                body = buf[: len(buf) - partial]
                emit = body.rstrip()
                reasoning.append(emit)
                self._held = buf[len(emit) :]
                break
            elif self._state is _State.CONTENT_START:
                buf = buf.lstrip()
                if not buf:
                    break
                self._state = _State.CONTENT
            else:
                content.append(buf)
                break
        return ReasoningDelta("".join(reasoning), "".join(content))

    def finish(self) -> ReasoningDelta:
        if self._finished:
            return ReasoningDelta()
        self._finished = True
        held, self._held = self._held, ""
        if self._state is _State.OPENING:
            # The stream ended before its first non-whitespace character could decide anything.
            if self._prompt_opened:
                return ReasoningDelta(reasoning=held.strip())
            return ReasoningDelta(content=held)
        if self._state is _State.REASONING:
            # Cut off before </think>: a partial tag is plain reasoning text; trailing whitespace is still
            # the end of the reasoning, so it is trimmed as it would be before a tag.
            return ReasoningDelta(reasoning=held.rstrip())
        return ReasoningDelta()

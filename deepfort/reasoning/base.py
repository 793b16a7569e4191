"""Reasoning parsers: split a model's streamed text into reasoning and answer content.

Models such as DeepSeek-R1 think out loud between tags (``<think>...</think>``) before answering. The
OpenAI-compatible API returns that part as ``reasoning_content`` and the rest as ``content``. A parser is a
pure state machine over text deltas: it holds back only what it cannot classify yet (a possibly split tag,
whitespace that may turn out to be trimmed) and emits everything else at once, so that feeding a text in
any chunking gives the same result as feeding it whole.

Parsers register by name in :data:`PARSERS` (an installed package adds one through the entry point group
``deepfort.reasoning_parsers``); :func:`get_parser` looks one up and names the known ones when it fails.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from deepfort.errors import UnknownNameError
from deepfort.registry import Registry

__all__ = [
    "PARSERS",
    "ReasoningDelta",
    "ReasoningParser",
    "UnknownReasoningParserError",
    "get_parser",
    "parser_names",
    "register_parser",
]


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """The part of the stream that a parser has classified: reasoning text and answer content."""

    reasoning: str = ""
    content: str = ""

    def __bool__(self) -> bool:
        """True when there is something to send; an empty delta means the caller sends no chunk."""
        return bool(self.reasoning or self.content)

    def __add__(self, other: object) -> ReasoningDelta:
        if not isinstance(other, ReasoningDelta):
            return NotImplemented
        return ReasoningDelta(self.reasoning + other.reasoning, self.content + other.content)


class ReasoningParser(ABC):
    """Streaming splitter of generated text into reasoning and content.

    One instance parses one generation: call :meth:`feed` for each text delta as it arrives and
    :meth:`finish` once at the end of the stream. Each call returns only the newly classified text, so
    the caller can forward it as one chunk (or nothing, when the delta is empty).
    """

    name: ClassVar[str]
    """Registry key, e.g. ``"deepseek_r1"``."""
    start_tag: ClassVar[str]
    end_tag: ClassVar[str]

    def __init__(self, *, prompt_opens_reasoning: bool = False) -> None:
        """Start a parser for one generation.

        ``prompt_opens_reasoning`` says that the chat template already wrote the start tag at the end of
        the prompt (see :meth:`prompt_opens_reasoning`), so the model's output begins inside reasoning.
        """
        self._prompt_opened = prompt_opens_reasoning

    @classmethod
    def prompt_opens_reasoning(cls, prompt: str) -> bool:
        """Whether a rendered prompt ends, ignoring trailing whitespace, with an unclosed start tag.

        DeepSeek-R1 and similar templates end the generation prompt with ``"<think>\\n"``; the model then
        emits only the end tag. A start tag anywhere else in the prompt (a closed earlier turn, or a user
        quoting the tag) does not count, because the model's output would not begin inside reasoning.
        """
        return prompt.rstrip().endswith(cls.start_tag)

    @abstractmethod
    def feed(self, text: str) -> ReasoningDelta:
        """Take one streamed text delta and return the part of the stream that is now safe to emit."""

    @abstractmethod
    def finish(self) -> ReasoningDelta:
        """Mark the end of the stream and flush anything held back."""

    @property
    @abstractmethod
    def in_reasoning(self) -> bool:
        """Whether text fed now would be classified as reasoning."""

    def parse(self, text: str) -> ReasoningDelta:
        """Parse a complete, non-streamed text; this consumes the parser like a whole stream would."""
        return self.feed(text) + self.finish()


class UnknownReasoningParserError(UnknownNameError, KeyError, ValueError):
    """No reasoning parser is registered under the requested name; the message lists the known ones.

    A ``KeyError`` because it is a failed registry lookup, and a ``ValueError`` because the name usually
    comes from configuration or a request, where it is a bad value.
    """

    default_kind = "reasoning parser"


PARSERS: Registry[type[ReasoningParser]] = Registry(
    "reasoning parser", group="deepfort.reasoning_parsers", error=UnknownReasoningParserError
)
"""The parsers by name: the built-in ones (registered when :mod:`deepfort.reasoning` is imported) and
those of installed packages (entry point group ``deepfort.reasoning_parsers``, a parser class each)."""

_P = TypeVar("_P", bound=type[ReasoningParser])


def register_parser(cls: _P) -> _P:
    """Class decorator: register a parser under its ``name``.

    Registering a second class under a taken name is a programming error and raises ``ValueError``.
    """
    PARSERS.register(cls.name, cls)
    return cls


def get_parser(name: str) -> type[ReasoningParser]:
    """Return the parser class registered under ``name``.

    Raises :class:`UnknownReasoningParserError`, listing the known names, when there is none.
    """
    return PARSERS.get(name)


def parser_names() -> list[str]:
    """Names of all registered parsers, sorted."""
    return PARSERS.names()

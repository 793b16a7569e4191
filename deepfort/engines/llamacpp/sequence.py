"""One generation inside the llama.cpp scheduler: its tokens, its place in the KV cache, its sampler."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from deepfort.engines.base import EngineDelta, EngineRequest, TokenLogprob
from deepfort.engines.llamacpp.planner import AdapterSet
from deepfort.engines.llamacpp.sampler import Sampler
from deepfort.engines.llamacpp.textstream import StopTextStream, ThinkingTracker

Emit = Callable[[EngineDelta | BaseException], None]


@dataclass(eq=False)
class Seq:
    """``tokens`` holds the prompt and every token generated so far; the first ``n_past`` of them are in
    the KV cache under sequence id ``slot``. A preempted sequence loses its cells (``n_past = 0``) but
    keeps its tokens, sampler and text stream, so it resumes exactly where it stopped."""

    request: EngineRequest
    prompt: list[int]
    max_tokens: int
    emit: Emit
    grammar: str | None = None
    thinking_end: list[int] = field(default_factory=list)
    adapters: AdapterSet = ()
    """The LoRA adapters it runs with (ids the scheduler loaded, with their scales); () for the base."""
    tokens: list[int] = field(init=False)
    n_past: int = 0
    slot: int = -1
    order: int = 0
    """Admission order; the newest running sequence is the first to be preempted."""
    forced: list[int] = field(default_factory=list)
    sampler: Sampler | None = None
    constrained: Sampler | None = None
    """The grammar-bound sampler waiting for reasoning to end (built at admission, so a bad grammar is
    refused before any token, not halfway)."""
    text: StopTextStream = field(init=False)
    thinking: ThinkingTracker | None = field(init=False)
    deferred_grammar: str | None = field(init=False)
    reused: int = 0
    prompt_logprobs: list[TokenLogprob] | None = field(init=False)
    """The log-probabilities of the prompt's tokens after the first, as far as collected, while the
    request asks for them and until they are sent; None otherwise."""
    preemptions: int = 0
    cancelled: bool = False
    done: bool = False
    queued_at: float = field(default_factory=time.monotonic)
    admitted_at: float | None = None

    def __post_init__(self) -> None:
        self.tokens = list(self.prompt)
        self.text = StopTextStream(self.request.stop)
        budget = self.request.thinking
        self.thinking = (
            ThinkingTracker(budget.max_tokens, budget.start_tag, budget.end_tag, started=budget.started)
            if budget is not None and self.thinking_end
            else None
        )
        # Reasoning already open: the JSON constraint waits for its end (a grammar would force JSON
        # into the reasoning otherwise).
        self.deferred_grammar = self.grammar if self.thinking is not None and self.thinking.started else None
        if self.deferred_grammar is not None:
            self.grammar = None
        self.prompt_logprobs = [] if self.request.prompt_logprobs is not None else None

    @property
    def generated(self) -> int:
        return len(self.tokens) - len(self.prompt)

    @property
    def pending(self) -> int:
        """Tokens known but not yet in the KV cache (1 while decoding, more while prefilling)."""
        return len(self.tokens) - self.n_past

    @property
    def collecting(self) -> bool:
        """Prompt logprobs are still being collected: no cached prefix may stand in for the prompt
        (reused cells have no logits)."""
        return self.prompt_logprobs is not None and len(self.prompt_logprobs) + 1 < len(self.prompt)

    @property
    def scoring(self) -> bool:
        """The planner's name: this prompt's logprobs are being computed (it runs alone, in fixed chunks)."""
        return self.collecting

    @property
    def reuses_prefix(self) -> bool:
        return self.request.cache_prompt and not self.collecting

    def wants_logits(self, pos: int) -> bool:
        """Whether the logits at ``pos`` give a prompt logprob not yet collected (that of ``pos + 1``;
        they are collected in order, chunk by chunk, and a recomputation skips those it has)."""
        collected = self.prompt_logprobs
        return collected is not None and len(collected) <= pos < len(self.prompt) - 1

    def take_prompt_logprobs(self) -> list[TokenLogprob] | None:
        """The collected prompt logprobs, once: when all are there and not yet sent."""
        if self.prompt_logprobs is None or self.collecting:
            return None
        out, self.prompt_logprobs = self.prompt_logprobs, None
        return out

    @property
    def cells_needed(self) -> int:
        """Cells this sequence may still occupy: everything it knows plus what it may generate."""
        return len(self.tokens) + (self.max_tokens - self.generated)

    def close_samplers(self) -> None:
        for sampler in (self.sampler, self.constrained):
            if sampler is not None:
                sampler.close()
        self.sampler = self.constrained = None

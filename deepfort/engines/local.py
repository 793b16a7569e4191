"""The in-process engine's generations as one :class:`~deepfort.engines.messages.MessageStream`.

A chat or text completion with ``n`` choices (or several prompts) is several engine sequences. This
adapter opens them all (every acceptance awaited, so a refusal surfaces before any output), merges their
deltas as they arrive, splits each choice's reasoning with the model's parser, and counts usage the way
OpenAI does: completion tokens summed over choices, prompt tokens once per distinct prompt. What comes out
is the same event stream a center produces, logprobs and token counts included.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence

from deepfort.engines.base import Engine, EngineDelta, EngineRequest
from deepfort.engines.messages import MessageEvent, MessageUsage
from deepfort.engines.streams import merge, open_generations
from deepfort.reasoning import ReasoningDelta, ReasoningParser


class LocalStream:
    """Accepted generations of one request on a local engine. ``usage`` counts what has arrived so far
    (exact once the stream has ended)."""

    def __init__(
        self,
        engine: Engine,
        gens: list[AsyncGenerator[EngineDelta, None]],
        request_ids: list[str],
        parsers: Sequence[ReasoningParser | None],
        prompt_tokens: int,
    ) -> None:
        self.engine = engine
        self.gens = gens
        self.request_ids = request_ids
        self.parsers = list(parsers)
        self.prompt_tokens = prompt_tokens
        self._completion = [0] * len(gens)
        self._reasoning = [0] * len(gens)

    @property
    def usage(self) -> MessageUsage:
        return MessageUsage(self.prompt_tokens, sum(self._completion), sum(self._reasoning))

    async def __aiter__(self) -> AsyncIterator[MessageEvent]:
        async for index, delta in merge(self.gens):
            event = self._event(index, delta)
            if event:
                yield event

    def _event(self, index: int, delta: EngineDelta) -> MessageEvent:
        self._completion[index] = max(self._completion[index], delta.completion_tokens)
        parser = self.parsers[index]
        if parser is None:
            out = ReasoningDelta(content=delta.text)
        else:
            if parser.in_reasoning:
                self._reasoning[index] += len(delta.token_ids)
            out = parser.feed(delta.text) if delta.text else ReasoningDelta()
            if delta.finish_reason is not None:
                out = out + parser.finish()
        return MessageEvent(
            index=index,
            content=out.content,
            reasoning=out.reasoning,
            finish_reason=delta.finish_reason,
            logprobs=tuple(delta.logprobs or ()),
            prompt_logprobs=delta.prompt_logprobs,
            tokens=len(delta.token_ids),
            queue_s=delta.queue_s,
        )

    def cancel(self) -> None:
        for request_id in self.request_ids:
            self.engine.cancel(request_id)

    def cancel_choice(self, index: int) -> None:
        self.engine.cancel(self.request_ids[index])

    async def aclose(self) -> None:
        for gen in self.gens:
            await gen.aclose()


async def open_local(
    engine: Engine,
    requests: list[EngineRequest],
    parsers: Sequence[ReasoningParser | None],
    *,
    per_prompt: int | None = None,
) -> LocalStream:
    """Queue every request and wait for each acceptance. The requests are prompts of ``per_prompt``
    choices each (default: all one prompt): each prompt's tokens count once in the usage, however many
    choices it has (OpenAI's rule for ``n``)."""
    gens, counts = await open_generations(engine, requests)
    step = per_prompt or len(requests)
    counted = sum(counts[i] for i in range(0, len(counts), step))
    return LocalStream(engine, gens, [r.request_id for r in requests], parsers, counted)

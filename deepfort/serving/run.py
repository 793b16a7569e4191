"""An accepted generation: one class for every chat or text completion, local or answered by a center.

A :class:`Run` reads the engine's event stream (:mod:`deepfort.engines.messages`) once, through the
output filters the moderation layer attached (personal data restored, banned phrases cut, the external
review on each finished choice), and keeps what each choice said. The assemblers in
:mod:`deepfort.serving.assemble` turn its events into SSE chunks, one response body or gRPC events.
Closing it runs the pipeline's after-hooks once (records, metrics, audit, quota).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from deepfort.engines.base import PromptLogprobs, TokenLogprob
from deepfort.engines.messages import MessageEvent, MessageStream
from deepfort.protocol import CompletionTokensDetails, Usage
from deepfort.reasoning import ReasoningDelta
from deepfort.routing.route import Route
from deepfort.serving.call import Call
from deepfort.serving.guarding import OutputFilter, merge_hits
from deepfort.serving.timing import Timing

log = logging.getLogger(__name__)

Kind = Literal["chat", "text"]


@dataclass
class Choice:
    """What one choice has said so far, as the client received it."""

    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    prompt_logprobs: PromptLogprobs | None = None
    """The prompt tokens' logprobs, when the request asked (a text completion with echo and logprobs)."""
    finish_reason: str | None = None
    withheld: bool = False
    """The external review flagged the finished answer: a whole response leaves it out."""


class Run:
    """``served`` names what answers (the local model's id, or the center); ``model`` is the name the
    client sees. ``splits_reasoning``: a local reasoning parser is in use (an empty answer is then
    ``null``, as vLLM does). ``echoes``: text completions' prompts echoed before each choice."""

    def __init__(
        self,
        call: Call,
        stream: MessageStream,
        *,
        kind: Kind,
        model: str,
        served: str,
        choices: int,
        cancel_choice: Callable[[int], None],
        splits_reasoning: bool = False,
        echoes: list[str] | None = None,
    ) -> None:
        self.call = call
        self.stream = stream
        self.kind = kind
        self.model = model
        self.served = served
        self.splits_reasoning = splits_reasoning
        self.echoes = echoes or [""] * choices
        self.id = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{call.caller.request_id}"
        self.created = int(time.time())
        self.timing = Timing()
        self.choices = [Choice() for _ in range(choices)]
        self.outputs: list[OutputFilter | None] = [None] * choices
        self._cancel_choice = cancel_choice
        self._on_close: Callable[[Run], Awaitable[None]] | None = None
        self._closed = False
        self._cut = False  # moderation told the engine to stop a choice

    @property
    def route(self) -> Route | None:
        return self.call.route

    def on_close(self, hook: Callable[[Run], Awaitable[None]]) -> None:
        self._on_close = hook

    async def events(self) -> AsyncIterator[MessageEvent]:
        """The answer as it goes to the client: filtered, one ``finish_reason`` per choice. Read once."""
        async for event in self.stream:
            choice = self.choices[event.index]
            if choice.finish_reason is not None:
                continue  # moderation ended this choice; what its engine still sends is dropped
            if event.tokens or event.content or event.reasoning:
                self.timing.token(event.queue_s)
            out, finish = self._filter(event)
            choice.content.append(out.content)
            choice.reasoning.append(out.reasoning)
            choice.logprobs.extend(event.logprobs)
            if event.prompt_logprobs is not None:
                choice.prompt_logprobs = event.prompt_logprobs
            if finish not in (None, "content_filter", "cancelled") and await self._review(event.index):
                finish = "content_filter"
            choice.finish_reason = finish
            yield MessageEvent(
                index=event.index,
                content=out.content,
                reasoning=out.reasoning,
                finish_reason=finish,
                logprobs=event.logprobs,
                prompt_logprobs=event.prompt_logprobs,
                tokens=event.tokens,
            )
            if self._cut and all(c.finish_reason is not None for c in self.choices):
                break  # a center told to stop may still be sending; nothing more is wanted from it

    def _filter(self, event: MessageEvent) -> tuple[ReasoningDelta, str | None]:
        out = ReasoningDelta(content=event.content, reasoning=event.reasoning)
        output = self.outputs[event.index]
        if output is None:
            return out, event.finish_reason
        out = output.feed(out, final=event.finish_reason is not None)
        if not output.stopped:
            return out, event.finish_reason
        if event.finish_reason is None:
            self._cut = True
            self._cancel_choice(event.index)
        return out, "content_filter"

    async def _review(self, index: int) -> bool:
        """The external moderation verdict on a finished choice (when one is configured)."""
        output = self.outputs[index]
        if output is None or not await output.review_final(*self.answer(index)):
            return False
        self.choices[index].withheld = True
        return True

    def answer(self, index: int = 0) -> tuple[str, str]:
        """Content and reasoning of a choice as the client received them."""
        choice = self.choices[index]
        return "".join(choice.content), "".join(choice.reasoning)

    def finish_reasons(self) -> list[str | None]:
        return [choice.finish_reason for choice in self.choices]

    def moderation_hits(self) -> dict[str, int]:
        return merge_hits(self.outputs)

    def usage(self) -> Usage:
        """Tokens used so far (all of them once the run has ended); zeros when a center sent none."""
        reported = self.stream.usage
        if reported is None:
            return Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
        return Usage(
            prompt_tokens=reported.prompt_tokens,
            completion_tokens=reported.completion_tokens,
            total_tokens=reported.prompt_tokens + reported.completion_tokens,
            completion_tokens_details=CompletionTokensDetails(reasoning_tokens=reported.reasoning_tokens)
            if self.kind == "chat"
            else None,
        )

    def cancel(self) -> None:
        """The client went away: every choice's generation stops at the next step."""
        self.stream.cancel()

    async def close(self) -> None:
        """Release the engine and run the after-hooks; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.stream.aclose()
        finally:
            if self._on_close is not None:
                await self._on_close(self)

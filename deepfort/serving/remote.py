"""A chat completion answered by a center, streamed back through this node."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from deepfort.engines.messages import MessageEvent, MessageStream
from deepfort.protocol import (
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessageOut,
    CompletionTokensDetails,
    RouteInfo,
    Usage,
)
from deepfort.reasoning import ReasoningDelta
from deepfort.routing.route import Route
from deepfort.serving.chunks import ChunkWriter, choice_chunk, text_delta
from deepfort.serving.guarding import OutputFilter, Screened, merge_hits
from deepfort.serving.timing import Timing


class RemoteChatRun:
    """Implements the route's ``Run``: chunks carry this node's response id and the client's model name.
    ``on_end(ok)`` is called once: True when the center finished the answer, False when it broke off,
    None when the client left first (no verdict on the center)."""

    def __init__(
        self,
        request: ChatCompletionRequest,
        stream: MessageStream,
        route: Route,
        request_id: str,
        on_end: Callable[[bool | None], None],
        outputs: list[OutputFilter | None] | None = None,
        screened: Screened | None = None,
    ) -> None:
        self.request = request
        self.outputs = outputs or [None] * request.n
        self.screened = screened
        self.conversation_id: str | None = None
        self.timing = Timing()
        self.remote = stream
        self.route = route
        self.id = f"chatcmpl-{request_id}"
        self.created = int(time.time())
        self._on_end: Callable[[bool | None], None] | None = on_end
        self.content: dict[int, list[str]] = {}
        self.reasoning: dict[int, list[str]] = {}
        self.finish: dict[int, str] = {}
        self.withheld: set[int] = set()

    def _end(self, ok: bool | None) -> None:
        if self._on_end is not None:
            on_end, self._on_end = self._on_end, None
            on_end(ok)

    def usage(self) -> Usage:
        reported = self.remote.usage
        if reported is None:
            return Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
        return Usage(
            prompt_tokens=reported.prompt_tokens,
            completion_tokens=reported.completion_tokens,
            total_tokens=reported.prompt_tokens + reported.completion_tokens,
            completion_tokens_details=CompletionTokensDetails(reasoning_tokens=reported.reasoning_tokens),
        )

    def _filter(self, event: MessageEvent) -> tuple[str, str, str | None]:
        """Unmask and moderate one event; a moderation stop ends that choice as ``content_filter``."""
        if self.finish.get(event.index) == "content_filter":
            return "", "", None
        output = self.outputs[event.index] if event.index < len(self.outputs) else None
        if output is None:
            return event.content, event.reasoning, event.finish_reason
        out = output.feed(
            ReasoningDelta(reasoning=event.reasoning, content=event.content),
            final=event.finish_reason is not None,
        )
        if output.stopped:
            if self.request.n == 1:
                self.remote.cancel()
            return out.content, out.reasoning, "content_filter"
        return out.content, out.reasoning, event.finish_reason

    def moderation_hits(self) -> dict[str, int]:
        return merge_hits(self.outputs)

    def finish_reasons(self) -> list[str | None]:
        return [self.finish.get(index) for index in range(self.request.n)]

    def answer(self, index: int = 0) -> tuple[str, str]:
        return "".join(self.content.get(index, [])), "".join(self.reasoning.get(index, []))

    async def _events(self) -> AsyncIterator[tuple[int, str, str, str | None]]:
        try:
            async for event in self.remote:
                if event.content or event.reasoning:
                    self.timing.token()
                content, reasoning, finish = self._filter(event)
                if not (content or reasoning or finish):
                    continue
                self.content.setdefault(event.index, []).append(content)
                self.reasoning.setdefault(event.index, []).append(reasoning)
                output = self.outputs[event.index] if event.index < len(self.outputs) else None
                reviewable = finish not in (None, "content_filter", "cancelled") and output is not None
                if reviewable and output is not None and await output.review_final(*self.answer(event.index)):
                    finish = "content_filter"
                    self.withheld.add(event.index)
                if finish:
                    self.finish[event.index] = finish
                yield event.index, content, reasoning, finish
                if finish == "content_filter" and self.request.n == 1:
                    break
        except BaseException:
            self._end(False)
            raise
        self._end(True)

    async def stream(self) -> AsyncIterator[str]:
        writer = ChunkWriter(self.id, self.created, self.request.model, self.route)
        for index in range(self.request.n):
            yield writer.chunk([choice_chunk(index, {"role": "assistant", "content": ""})])
        async for index, content, reasoning, finish in self._events():
            if content or reasoning:
                yield writer.chunk([choice_chunk(index, text_delta(content, reasoning))])
            if finish and finish != "cancelled":
                yield writer.chunk([choice_chunk(index, {}, finish=finish)])
        options = self.request.stream_options
        if options is not None and options.include_usage:
            yield writer.chunk([], usage=self.usage())

    async def collect(self) -> ChatCompletion:
        async for _ in self._events():
            pass
        choices = []
        for index in self.withheld:  # flagged by the external moderation API as a whole
            self.content[index], self.reasoning[index] = [], []
        for index in range(self.request.n):
            reasoning = "".join(self.reasoning.get(index, []))
            choices.append(
                ChatChoice(
                    index=index,
                    message=ChatMessageOut(
                        content="".join(self.content.get(index, [])),
                        reasoning_content=reasoning or None,
                        reasoning=reasoning or None,
                    ),
                    finish_reason=self.finish.get(index),
                )
            )
        return ChatCompletion(
            id=self.id,
            created=self.created,
            model=self.request.model,
            choices=choices,
            usage=self.usage(),
            route=RouteInfo.model_validate(self.route.as_dict()),
            conversation_id=self.conversation_id,
        )

    def cancel(self) -> None:
        self.remote.cancel()

    async def close(self) -> None:
        self._end(None)
        await self.remote.aclose()

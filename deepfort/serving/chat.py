"""Chat completions: template -> engine -> reasoning split -> OpenAI chunks or one completion."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field

from deepfort.access.keys import LOCAL, ApiKey
from deepfort.engines.base import EngineDelta, EngineRequest, TokenLogprob
from deepfort.engines.messages import MessageEvent
from deepfort.engines.streams import merge, open_generations
from deepfort.errors import CenterUnavailableError, InvalidRequestError, UpstreamError
from deepfort.protocol import (
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
    ChatCompletionTokenLogprob,
    ChatMessageOut,
    ChoiceLogprobs,
    CompletionTokensDetails,
    RouteInfo,
    TopLogprob,
    Usage,
)
from deepfort.reasoning import ReasoningDelta, ReasoningParser
from deepfort.routing.route import Route
from deepfort.routing.router import Plan
from deepfort.serving.chunks import ChunkWriter, choice_chunk, text_delta
from deepfort.serving.context import ServingContext
from deepfort.serving.guarding import OutputFilter, Screened, merge_hits
from deepfort.serving.params import (
    sampling_params,
    stop_list,
    structured_output,
    template_messages,
    thinking_budget,
)
from deepfort.serving.pool import ServedModel
from deepfort.serving.remote import RemoteChatRun
from deepfort.serving.timing import Timing

log = logging.getLogger(__name__)


def to_wire_logprobs(items: list[TokenLogprob]) -> list[ChatCompletionTokenLogprob]:
    return [
        ChatCompletionTokenLogprob(
            token=lp.token,
            logprob=lp.logprob,
            bytes=lp.bytes,
            top_logprobs=[TopLogprob(token=t.token, logprob=t.logprob, bytes=t.bytes) for t in lp.top],
        )
        for lp in items
    ]


@dataclass
class _Choice:
    """Per-choice state while a chat completion is produced."""

    parser: ReasoningParser | None
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    finish_reason: str | None = None
    output: OutputFilter | None = None
    finish_sent: bool = False

    @property
    def filtered(self) -> bool:
        """Moderation stopped this choice: its generation is to be cancelled, later deltas ignored."""
        return self.finish_reason == "content_filter"

    def feed(self, delta: EngineDelta) -> ReasoningDelta:
        if self.filtered:
            return ReasoningDelta()
        if delta.logprobs:
            self.logprobs.extend(delta.logprobs)
        self.completion_tokens = max(self.completion_tokens, delta.completion_tokens)
        if self.parser is None:
            out = ReasoningDelta(content=delta.text)
        else:
            if self.parser.in_reasoning:
                self.reasoning_tokens += len(delta.token_ids)
            out = self.parser.feed(delta.text) if delta.text else ReasoningDelta()
        if delta.finish_reason is not None:
            self.finish_reason = delta.finish_reason
            if self.parser is not None:
                out = out + self.parser.finish()
        if self.output is not None:
            out = self.output.feed(out, final=delta.finish_reason is not None)
            if self.output.stopped:
                self.finish_reason = "content_filter"
        self.content.append(out.content)
        self.reasoning.append(out.reasoning)
        return out


class ChatRun:
    """An accepted chat completion: engines have validated and queued every choice."""

    def __init__(
        self,
        request: ChatCompletionRequest,
        served: ServedModel,
        gens: list[AsyncGenerator[EngineDelta, None]],
        prompt_tokens: int,
        prompt_opens: bool,
        request_id: str,
        request_ids: list[str],
        route: Route | None = None,
        outputs: list[OutputFilter | None] | None = None,
        screened: Screened | None = None,
    ) -> None:
        self.request = request
        self.route = route
        self.screened = screened
        self.conversation_id: str | None = None
        self.timing = Timing()
        self.request_ids = request_ids
        self.served = served
        self.gens = gens
        self.prompt_tokens = prompt_tokens
        self.id = f"chatcmpl-{request_id}"
        self.created = int(time.time())
        self.choices = [
            _Choice(
                parser=served.parser(prompt_opens_reasoning=prompt_opens) if served.parser else None,
                output=outputs[i] if outputs else None,
            )
            for i in range(len(gens))
        ]

    def usage(self) -> Usage:
        completion = sum(c.completion_tokens for c in self.choices)
        reasoning = sum(c.reasoning_tokens for c in self.choices)
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=completion,
            total_tokens=self.prompt_tokens + completion,
            completion_tokens_details=CompletionTokensDetails(reasoning_tokens=reasoning),
        )

    async def close(self) -> None:
        for gen in self.gens:
            await gen.aclose()

    def cancel(self) -> None:
        """The client went away: every choice's stream ends at the next decode step."""
        for request_id in self.request_ids:
            self.served.engine.cancel(request_id)

    def _feed(self, index: int, delta: EngineDelta) -> ReasoningDelta:
        choice = self.choices[index]
        was_filtered = choice.filtered
        out = choice.feed(delta)
        if delta.token_ids:
            self.timing.token(delta.queue_s)
        if choice.filtered and not was_filtered and delta.finish_reason is None:
            self.served.engine.cancel(self.request_ids[index])
        return out

    def moderation_hits(self) -> dict[str, int]:
        return merge_hits(choice.output for choice in self.choices)

    def finish_reasons(self) -> list[str | None]:
        return [choice.finish_reason for choice in self.choices]

    def answer(self, index: int = 0) -> tuple[str, str]:
        """Content and reasoning of a choice as the client received them."""
        choice = self.choices[index]
        return "".join(choice.content), "".join(choice.reasoning)

    async def _review(self, index: int) -> bool:
        """The external moderation verdict on a finished choice (when one is configured): True when
        flagged, and the choice then ends as ``content_filter``."""
        choice = self.choices[index]
        if choice.output is None or choice.filtered or choice.finish_reason == "cancelled":
            return False
        if await choice.output.review_final(*self.answer(index)):
            choice.finish_reason = "content_filter"
            return True
        return False

    async def events(self) -> AsyncIterator[MessageEvent]:
        """The answer as message events (what a center sends an edge); usage is :meth:`usage` after."""
        async for index, delta in merge(self.gens):
            choice = self.choices[index]
            out = self._feed(index, delta)
            finish = None
            if choice.finish_reason is not None and not choice.finish_sent:
                finish, choice.finish_sent = choice.finish_reason, True
            event = MessageEvent(
                index=index, content=out.content, reasoning=out.reasoning, finish_reason=finish
            )
            if event:
                yield event

    async def stream(self) -> AsyncIterator[str]:
        """``ChatCompletionChunk`` JSON texts, one per event."""
        writer = ChunkWriter(self.id, self.created, self.request.model, self.route)
        want_logprobs = self.request.logprobs
        for index in range(len(self.choices)):
            yield writer.chunk([choice_chunk(index, {"role": "assistant", "content": ""})])
        async for index, delta in merge(self.gens):
            choice = self.choices[index]
            out = self._feed(index, delta)
            logprobs = None
            if want_logprobs and delta.logprobs:
                logprobs = ChoiceLogprobs(content=to_wire_logprobs(delta.logprobs)).model_dump()
            if out or logprobs is not None:
                body = text_delta(out.content, out.reasoning)
                yield writer.chunk([choice_chunk(index, body, logprobs=logprobs)])
            if choice.finish_reason not in (None, "cancelled") and not choice.finish_sent:
                choice.finish_sent = True
                await self._review(index)
                yield writer.chunk([choice_chunk(index, {}, finish=choice.finish_reason)])
        options = self.request.stream_options
        if options is not None and options.include_usage:
            yield writer.chunk([], usage=self.usage())

    async def collect(self) -> ChatCompletion:
        async for index, delta in merge(self.gens):
            self._feed(index, delta)
        for index, choice in enumerate(self.choices):
            if await self._review(index):
                choice.content, choice.reasoning = [], []  # a whole flagged answer is withheld
        choices = []
        for index, choice in enumerate(self.choices):
            content = "".join(choice.content)
            reasoning = "".join(choice.reasoning)
            has_parser = choice.parser is not None
            choices.append(
                ChatChoice(
                    index=index,
                    message=ChatMessageOut(
                        content=(content or None) if has_parser else content,
                        reasoning_content=reasoning or None,
                        reasoning=reasoning or None,
                    ),
                    logprobs=ChoiceLogprobs(content=to_wire_logprobs(choice.logprobs))
                    if self.request.logprobs
                    else None,
                    finish_reason=choice.finish_reason,
                )
            )
        return ChatCompletion(
            id=self.id,
            created=self.created,
            model=self.request.model,
            choices=choices,
            usage=self.usage(),
            route=None if self.route is None else RouteInfo.model_validate(self.route.as_dict()),
            conversation_id=self.conversation_id,
        )


class ChatService:
    def __init__(self, context: ServingContext) -> None:
        self.context = context

    def screen(self, request: ChatCompletionRequest, caller: ApiKey = LOCAL) -> Screened:
        """The caller's PII policy applied to the request (raises under ``block`` when data is found)."""
        return self.context.guards.screen(request, caller.pii_policy)

    async def start(
        self, request: ChatCompletionRequest, request_id: str | None = None, caller: ApiKey = LOCAL
    ) -> ChatRun | RemoteChatRun:
        """Screen, route, validate, render and queue a chat completion; errors are raised here, before
        any output. A routed question whose center fails before accepting it is answered here, marked
        degraded. The model (local or center) sees masked personal data; the client gets its own back."""
        request_id = request_id or uuid.uuid4().hex
        screened = self.screen(request, caller)
        request = screened.request
        router = self.context.router
        plan = router.plan(request.model, template_messages(request.messages))
        if plan.center is not None:
            try:
                return await self._forward(request, plan, request_id, screened)
            except (CenterUnavailableError, UpstreamError) as exc:
                if not plan.routed:
                    raise
                log.warning("center failed; answering on the edge", extra={"error": exc.message})
                plan = router.fallback(plan.route, f"center failed: {exc.message}")
        assert plan.local is not None
        if (
            request.model != plan.local
            and request.model not in self.context.pool.get(plan.local).config.names
        ):
            request = request.model_copy(update={"model": plan.local})
        return await self.start_local(request, request_id, plan.route, screened)

    async def _forward(
        self, request: ChatCompletionRequest, plan: Plan, request_id: str, screened: Screened
    ) -> RemoteChatRun:
        center = plan.center
        assert center is not None and plan.wire_model is not None
        body = request.model_dump(mode="json", exclude_unset=True)
        body["model"] = plan.wire_model
        body.pop("conversation_id", None)  # kept on this node only
        deadline = self.context.routing.deadline_s
        center.outstanding += 1
        try:
            stream = await asyncio.wait_for(center.engine.open_chat(body, request_id), deadline)
        except TimeoutError:
            center.outstanding -= 1
            center.breaker.record_failure()
            raise CenterUnavailableError(f"{center.target} did not accept within {deadline:g} s") from None
        except (CenterUnavailableError, UpstreamError) as exc:
            center.outstanding -= 1
            center.breaker.record_failure()
            center.last_error = exc.message
            raise
        except BaseException:
            center.outstanding -= 1
            raise

        def on_end(ok: bool | None) -> None:
            center.outstanding -= 1
            if ok is True:
                center.breaker.record_success()
            elif ok is False:
                center.breaker.record_failure()

        if request.model != plan.route.model:
            request = request.model_copy(update={"model": plan.route.model})
        outputs = [self.context.guards.output(screened) for _ in range(request.n)]
        return RemoteChatRun(request, stream, plan.route, request_id, on_end, outputs, screened)

    async def start_local(
        self,
        request: ChatCompletionRequest,
        request_id: str,
        route: Route | None = None,
        screened: Screened | None = None,
    ) -> ChatRun:
        served = self.context.pool.get(request.model)
        limits = self.context.server
        if request.n > limits.max_n:
            raise InvalidRequestError(
                f"n is {request.n}; this server allows at most {limits.max_n}", param="n"
            )
        engine = served.engine
        prompt = engine.render_chat(template_messages(request.messages))
        prompt_opens = served.parser.prompt_opens_reasoning(prompt) if served.parser else False
        max_tokens = request.max_completion_tokens or request.max_tokens
        requests = [
            EngineRequest(
                request_id=f"{request_id}-{i}",
                prompt=prompt,
                max_tokens=max_tokens,
                sampling=sampling_params(request, seed_offset=i),
                cache_prompt=request.cache_prompt,
                stop=stop_list(request.stop),
                structured=structured_output(request.response_format),
                logprobs=(request.top_logprobs or 0) if request.logprobs else None,
                thinking=thinking_budget(
                    served.parser,
                    prompt_opens=prompt_opens,
                    effort=request.reasoning_effort,
                    budget=request.thinking_token_budget,
                ),
            )
            for i in range(request.n)
        ]
        gens, prompt_tokens = await open_generations(engine, requests)
        return ChatRun(
            request,
            served,
            gens,
            prompt_tokens[0],
            prompt_opens,
            request_id,
            [r.request_id for r in requests],
            route,
            [self.context.guards.output(screened) for _ in requests],
            screened,
        )

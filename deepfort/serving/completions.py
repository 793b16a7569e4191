"""Legacy text completions (``/v1/completions``): raw prompts, no template, no reasoning split."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator

from deepfort.access.keys import LOCAL, ApiKey
from deepfort.engines.base import Engine, EngineDelta, EngineRequest, TokenLogprob
from deepfort.engines.streams import merge, open_generations
from deepfort.errors import InvalidRequestError
from deepfort.protocol import (
    Completion,
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    Usage,
)
from deepfort.reasoning import ReasoningDelta
from deepfort.routing.router import AUTO
from deepfort.serving.context import ServingContext
from deepfort.serving.guarding import OutputFilter, ScreenedTexts, merge_hits
from deepfort.serving.params import sampling_params, stop_list, structured_output
from deepfort.serving.timing import Timing


def _prompts(prompt: str | list[str] | list[int] | list[list[int]]) -> list[str | list[int]]:
    if isinstance(prompt, str):
        return [prompt]
    if all(isinstance(p, int) for p in prompt):
        return [list(prompt)]  # type: ignore[arg-type]
    return list(prompt)  # type: ignore[arg-type]


def _logprobs(items: list[TokenLogprob], offset: int) -> CompletionLogprobs:
    out = CompletionLogprobs()
    for lp in items:
        out.tokens.append(lp.token)
        out.token_logprobs.append(lp.logprob)
        out.top_logprobs.append({t.token: t.logprob for t in lp.top})
        out.text_offset.append(offset)
        offset += len(lp.token)
    return out


class CompletionRun:
    def __init__(
        self,
        request: CompletionRequest,
        gens: list[AsyncGenerator[EngineDelta, None]],
        echoes: list[str],
        prompt_tokens: int,
        request_id: str,
        engine: Engine,
        request_ids: list[str],
        outputs: list[OutputFilter | None] | None = None,
        screened: ScreenedTexts | None = None,
    ) -> None:
        self.request = request
        self.outputs = outputs or [None] * len(gens)
        self.screened = screened
        self.timing = Timing()
        self.engine = engine
        self.request_ids = request_ids
        self.gens = gens
        self.echoes = echoes
        self.prompt_tokens = prompt_tokens
        self.id = f"cmpl-{request_id}"
        self.created = int(time.time())
        self.texts = [[echo] for echo in echoes]
        self.logprobs: list[list[TokenLogprob]] = [[] for _ in gens]
        self.completion_tokens = [0] * len(gens)
        self.finish: list[str | None] = [None] * len(gens)

    def usage(self) -> Usage:
        completion = sum(self.completion_tokens)
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=completion,
            total_tokens=self.prompt_tokens + completion,
        )

    def _feed(self, index: int, delta: EngineDelta) -> str:
        """Take one delta; returns the text to send (unmasked and reviewed when guards apply)."""
        if self.finish[index] == "content_filter":
            return ""
        text = delta.text
        if delta.token_ids:
            self.timing.token(delta.queue_s)
        output = self.outputs[index]
        if output is not None:
            text = output.feed(ReasoningDelta(content=text), final=delta.finish_reason is not None).content
        self.texts[index].append(text)
        if delta.logprobs:
            self.logprobs[index].extend(delta.logprobs)
        self.completion_tokens[index] = max(self.completion_tokens[index], delta.completion_tokens)
        if output is not None and output.stopped:
            self.finish[index] = "content_filter"
            if delta.finish_reason is None:
                self.engine.cancel(self.request_ids[index])
        elif delta.finish_reason is not None:
            self.finish[index] = delta.finish_reason
        return text

    def moderation_hits(self) -> dict[str, int]:
        return merge_hits(self.outputs)

    async def close(self) -> None:
        for gen in self.gens:
            await gen.aclose()

    def cancel(self) -> None:
        for request_id in self.request_ids:
            self.engine.cancel(request_id)

    def _wrap(self, choices: list[CompletionChoice], usage: Usage | None = None) -> Completion:
        return Completion(
            id=self.id, created=self.created, model=self.request.model, choices=choices, usage=usage
        )

    async def stream(self) -> AsyncIterator[str]:
        """``Completion`` JSON texts, one per event."""
        for index, echo in enumerate(self.echoes):
            if echo:
                yield self._wrap(
                    [CompletionChoice(index=index, text=echo, finish_reason=None)]
                ).model_dump_json()
        sent: set[int] = set()
        async for index, delta in merge(self.gens):
            if index in sent:
                continue
            text = self._feed(index, delta)
            lp = (
                _logprobs(delta.logprobs, 0) if self.request.logprobs is not None and delta.logprobs else None
            )
            finish = self.finish[index] if self.finish[index] != "cancelled" else None
            if finish is not None:
                sent.add(index)
            if text or lp is not None or finish is not None:
                choice = CompletionChoice(index=index, text=text, logprobs=lp, finish_reason=finish)
                yield self._wrap([choice]).model_dump_json()
        options = self.request.stream_options
        if options is not None and options.include_usage:
            yield self._wrap([], usage=self.usage()).model_dump_json()

    async def collect(self) -> Completion:
        async for index, delta in merge(self.gens):
            self._feed(index, delta)
        choices = [
            CompletionChoice(
                index=i,
                text="".join(self.texts[i]),
                logprobs=_logprobs(self.logprobs[i], len(self.echoes[i]))
                if self.request.logprobs is not None
                else None,
                finish_reason=self.finish[i],
            )
            for i in range(len(self.gens))
        ]
        return self._wrap(choices, usage=self.usage())


class CompletionService:
    def __init__(self, context: ServingContext) -> None:
        self.context = context

    async def start(
        self, request: CompletionRequest, request_id: str | None = None, caller: ApiKey = LOCAL
    ) -> CompletionRun:
        # Completions are answered by local models; `auto` means the edge's own model.
        if request.model == AUTO:
            request = request.model_copy(update={"model": self.context.router.edge_model()})
        served = self.context.pool.get(request.model)
        originals = _prompts(request.prompt)
        # Text prompts pass the caller's PII policy (token-id prompts cannot be read, and are not).
        texts = [p for p in originals if isinstance(p, str)]
        screened = self.context.guards.screen_texts(texts, caller.pii_policy)
        masked = iter(screened.pii.texts)
        prompts = [next(masked) if isinstance(p, str) else p for p in originals]
        total = len(prompts) * request.n
        limit = self.context.server.max_n
        if total > limit:
            raise InvalidRequestError(
                f"{len(prompts)} prompts x n={request.n} asks for {total} choices; the limit is {limit}",
                param="n",
            )
        engine = served.engine
        request_id = request_id or uuid.uuid4().hex
        engine_requests: list[EngineRequest] = []
        echoes: list[str] = []
        for p, (prompt, original) in enumerate(zip(prompts, originals, strict=True)):
            for i in range(request.n):
                engine_requests.append(
                    EngineRequest(
                        request_id=f"{request_id}-{p}-{i}",
                        prompt=prompt,
                        max_tokens=request.max_tokens,
                        sampling=sampling_params(request, seed_offset=i),
                        cache_prompt=request.cache_prompt,
                        stop=stop_list(request.stop),
                        structured=structured_output(request.response_format),
                        logprobs=request.logprobs,
                    )
                )
                if request.echo:
                    echoes.append(original if isinstance(original, str) else engine.detokenize(original))
                else:
                    echoes.append("")
        gens, prompt_tokens = await open_generations(engine, engine_requests)
        # Usage counts each prompt once, however many choices it has (OpenAI's rule).
        counted = sum(prompt_tokens[p * request.n] for p in range(len(prompts)))
        ids = [r.request_id for r in engine_requests]
        outputs = [self.context.guards.output(screened) for _ in engine_requests]
        return CompletionRun(request, gens, echoes, counted, request_id, engine, ids, outputs, screened)

"""The one way a chat or text completion is produced: ``ChatPipeline.execute(request, caller) -> Run``.

Every entry point calls it: the HTTP routes (``/v1/chat/completions``, ``/v1/completions``,
``/generate``), the gRPC center, the workflow ``llm`` node and ``deepfort chat``. Side effects are layers
around one engine step (Dify's graph engine keeps them out of the engine the same way), in one declared
order, :data:`ORDER`::

    quota -> pii -> conversation -> [routing (edge | center | degraded) -> engine -> reasoning split]
          -> moderation (lexicon hold-back, external review) -> records -> metrics -> audit

``before`` hooks run in that order before the engine step; ``attach`` once the engine accepted the
request; ``after`` hooks in that order when the run is closed (see :mod:`deepfort.serving.layers.base`).
The engine step answers with an event stream (:mod:`deepfort.engines.messages`) whether the model runs in
process or on a center, so one :class:`~deepfort.serving.run.Run` and one set of assemblers serve all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from deepfort.engines.base import EngineRequest
from deepfort.engines.local import open_local
from deepfort.errors import CenterUnavailableError, DeepfortError, InvalidRequestError, UpstreamError
from deepfort.protocol import ChatCompletionRequest, CompletionRequest
from deepfort.routing.router import AUTO, Plan
from deepfort.serving.call import Call, Caller, GenerationRequest
from deepfort.serving.context import ServingContext
from deepfort.serving.layers.base import Layer
from deepfort.serving.layers.pii import prompt_list
from deepfort.serving.params import (
    sampling_params,
    stop_list,
    structured_output,
    template_messages,
    thinking_budget,
    with_defaults,
)
from deepfort.serving.run import Run

log = logging.getLogger(__name__)

ORDER = ("quota", "pii", "conversation", "moderation", "records", "metrics", "audit")
"""The layers' declared order; :class:`ChatPipeline` refuses any other."""


class ChatPipeline:
    def __init__(self, context: ServingContext, layers: Sequence[Layer]) -> None:
        names = tuple(layer.name for layer in layers)
        if names != tuple(n for n in ORDER if n in names):
            raise ValueError(f"pipeline layers {names} are not in the declared order {ORDER}")
        self.context = context
        self.layers = list(layers)

    async def execute(self, request: GenerationRequest, caller: Caller | None = None) -> Run:
        """Admit, screen, route, validate and queue a request; refusals are raised here, before any
        output. The returned run must be closed (its after-hooks run then)."""
        call = Call(request=request, caller=caller or Caller())
        try:
            for layer in self.layers:
                await layer.before(call)
            run = await self._open(call)
        except DeepfortError as exc:
            for layer in self.layers:
                await layer.refused(call, exc)
            raise
        for layer in self.layers:
            layer.attach(call, run)
        run.on_close(self._after)
        return run

    async def _after(self, run: Run) -> None:
        for layer in self.layers:
            try:
                await layer.after(run.call, run)
            except Exception:
                log.exception("after-hook of the %s layer failed", layer.name)

    async def _open(self, call: Call) -> Run:
        if isinstance(call.request, ChatCompletionRequest):
            return await self._open_chat(call, call.request)
        assert isinstance(call.request, CompletionRequest)
        return await self._open_text(call, call.request)

    # -- chat: routed to a center or answered here

    async def _open_chat(self, call: Call, request: ChatCompletionRequest) -> Run:
        if not call.caller.forward:  # a center answering an edge: its own models, never forwarded again
            return await self._open_local_chat(call, request, request.model)
        router = self.context.router
        plan = router.plan(request.model, template_messages(request.messages))
        if plan.center is not None:
            try:
                return await self._forward(call, request, plan)
            except (CenterUnavailableError, UpstreamError) as exc:
                if not plan.routed:
                    raise
                log.warning("center failed; answering on the edge", extra={"error": exc.message})
                plan = router.fallback(plan.route, f"center failed: {exc.message}")
        assert plan.local is not None
        call.route = plan.route
        names = self.context.pool.get(plan.local).names
        return await self._open_local_chat(
            call, request, request.model if request.model in names else plan.local
        )

    async def _forward(self, call: Call, request: ChatCompletionRequest, plan: Plan) -> Run:
        center = plan.center
        assert center is not None and plan.wire_model is not None
        request = with_defaults(request, center.sampling.get(plan.route.model))
        body = request.model_dump(mode="json", exclude_unset=True)
        body["model"] = plan.wire_model
        body.pop("conversation_id", None)  # kept on this node only
        stream = await center.open_chat(body, call.caller.request_id, self.context.routing.deadline_s)
        call.route = plan.route

        def cancel_choice(index: int) -> None:
            if request.n == 1:  # a center stream stops as a whole
                stream.cancel()

        return Run(
            call,
            stream,
            kind="chat",
            model=plan.route.model,
            served=center.target,
            choices=request.n,
            cancel_choice=cancel_choice,
        )

    async def _open_local_chat(self, call: Call, request: ChatCompletionRequest, model: str) -> Run:
        served, adapter = self.context.pool.lookup(model)
        lora = served.adapter_choices(adapter, request.lora)
        request = with_defaults(request, served.spec.sampling_defaults)
        if request.n > self.context.server.max_n:
            limit = self.context.server.max_n
            raise InvalidRequestError(f"n is {request.n}; this server allows at most {limit}", param="n")
        engine = served.engine
        prompt = engine.render_chat(template_messages(request.messages))
        prompt_opens = served.parser.prompt_opens_reasoning(prompt) if served.parser else False
        rid = call.caller.request_id
        requests = [
            EngineRequest(
                request_id=f"{rid}-{i}",
                prompt=prompt,
                max_tokens=request.max_completion_tokens or request.max_tokens,
                sampling=sampling_params(request, seed_offset=i),
                cache_prompt=request.cache_prompt,
                ignore_eos=request.ignore_eos,
                lora=lora,
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
        parser = served.parser
        parsers = [parser(prompt_opens_reasoning=prompt_opens) if parser else None for _ in requests]
        stream = await open_local(engine, requests, parsers)
        return Run(
            call,
            stream,
            kind="chat",
            model=model,
            served=served.id,
            choices=len(requests),
            cancel_choice=stream.cancel_choice,
            splits_reasoning=parser is not None,
        )

    # -- text completions: answered by local models; `auto` means the edge's own model

    async def _open_text(self, call: Call, request: CompletionRequest) -> Run:
        model = self.context.router.edge_model() if request.model == AUTO else request.model
        if model not in self.context.pool and self.context.router.centers.serving(model):
            raise InvalidRequestError(
                f"`{model}` is served by a center, and text completions are answered by this node's own "
                f"models only{_SCORING_WHY if _scores_prompt(request) else ''}; ask a local model, or "
                "use /v1/chat/completions for the center",
                param="model",
            )
        served, adapter = self.context.pool.lookup(model)
        lora = served.adapter_choices(adapter, request.lora)
        if _scores_prompt(request) and not served.engine.capabilities.prompt_logprobs:
            raise InvalidRequestError(
                f"model `{model}` (engine `{served.spec.engine}`) cannot compute the prompt's "
                f"log-probabilities or answer max_tokens 0{_SCORING_WHY}",
                param="logprobs" if request.prompt_logprobs is not None else "max_tokens",
            )
        request = with_defaults(request, served.spec.sampling_defaults)
        prompts = prompt_list(request.prompt)
        originals = (
            prompt_list(call.original.prompt) if isinstance(call.original, CompletionRequest) else prompts
        )
        if request.prompt_logprobs is not None and prompts != originals:
            raise InvalidRequestError(
                "the prompt holds personal data that the PII policy masks before the model sees it, so its "
                "log-probabilities would not be those of the echoed text; send it without echo and "
                "logprobs, or serve the evaluation with guard.pii.policy `allow`",
                param="prompt",
            )
        total = len(prompts) * request.n
        limit = self.context.server.max_n
        if total > limit:
            raise InvalidRequestError(
                f"{len(prompts)} prompts x n={request.n} asks for {total} choices; the limit is {limit}",
                param="n",
            )
        engine = served.engine
        rid = call.caller.request_id
        requests: list[EngineRequest] = []
        echoes: list[str] = []
        for p, (prompt, original) in enumerate(zip(prompts, originals, strict=True)):
            for i in range(request.n):
                requests.append(
                    EngineRequest(
                        request_id=f"{rid}-{p}-{i}",
                        prompt=prompt,
                        max_tokens=request.max_tokens,
                        sampling=sampling_params(request, seed_offset=i),
                        cache_prompt=request.cache_prompt,
                        ignore_eos=request.ignore_eos,
                        lora=lora,
                        stop=stop_list(request.stop),
                        structured=structured_output(request.response_format),
                        logprobs=request.logprobs,
                        prompt_logprobs=request.prompt_logprobs,
                    )
                )
                if not request.echo:
                    echoes.append("")
                else:
                    echoes.append(original if isinstance(original, str) else engine.detokenize(original))
        stream = await open_local(engine, requests, [None] * len(requests), per_prompt=request.n)
        return Run(
            call,
            stream,
            kind="text",
            model=model,
            served=served.id,
            choices=len(requests),
            cancel_choice=stream.cancel_choice,
            echoes=echoes,
        )


_SCORING_WHY = (
    " (echo with logprobs scores the prompt, as OpenAI's legacy API and vLLM do; an answer without the "
    "prompt's log-probabilities would silently score at chance)"
)


def _scores_prompt(request: CompletionRequest) -> bool:
    """The request needs what only some engines do: the prompt's logprobs, or the prompt alone."""
    return request.prompt_logprobs is not None or request.max_tokens == 0

"""What a chat request leaves behind: the stored conversation, the request record, audit entries."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from fastapi import Request

from deepfort.api.auth import principal
from deepfort.api.deps import node, request_id
from deepfort.api.middleware import ACCESS_STATE
from deepfort.errors import NotFoundError, SensitiveInputError
from deepfort.protocol import ChatCompletionRequest, Usage
from deepfort.routing.route import Route
from deepfort.serving.chat import ChatRun
from deepfort.serving.guarding import Screened, ScreenedTexts
from deepfort.serving.params import template_messages
from deepfort.serving.remote import RemoteChatRun
from deepfort.serving.timing import Timing
from deepfort.store import RowExistsError

log = logging.getLogger(__name__)
CONVERSATION_HEADER = "x-deepfort-conversation-id"


@dataclass
class Keeper:
    """Created before a chat run starts (so a named conversation is checked first); ``finish`` runs once
    the run has ended."""

    request: Request
    body: ChatCompletionRequest
    started: float = field(default_factory=time.perf_counter)
    conversation_id: str | None = None

    async def open_conversation(self) -> None:
        wanted = self.body.conversation_id
        if wanted is None:
            return
        store, owner = node(self.request).store, principal(self.request).key_id
        if wanted == "new":
            title = _first_user_text(self.body)[:80] or "conversation"
            view = await asyncio.to_thread(store.create_conversation, owner, title, self.body.model)
            self.conversation_id = view.id
            return
        if await asyncio.to_thread(store.get_conversation, wanted, owner) is None:
            raise NotFoundError(f"no conversation {wanted!r}", param="conversation_id")
        self.conversation_id = wanted

    async def finish(self, run: ChatRun | RemoteChatRun, usage: Usage) -> None:
        services = node(self.request)
        finish = run.finish_reasons()[0] if run.finish_reasons() else None
        route = run.route
        observe(self.request, run.timing, self.started, usage, run.request.model, route, finish)
        if route is not None:
            services.metrics.routed(tier=route.tier, reason=route_class(route))
        await guard_moderation(self.request, run.moderation_hits())
        content, reasoning = run.answer(0)
        if self.conversation_id is not None:
            await asyncio.to_thread(
                services.store.add_message, self.conversation_id, "user", _last_user_text(self.body)
            )
            await asyncio.to_thread(
                services.store.add_message,
                self.conversation_id,
                "assistant",
                content,
                reasoning or None,
                request_id(self.request),
                run.request.model,
                usage.prompt_tokens,
                usage.completion_tokens,
            )
        if services.settings.observability.log_prompts:
            request_state = self.request.scope["state"].setdefault(ACCESS_STATE, {})
            request_state["prompt"] = _last_user_text(self.body)
        await keep_record(self.request, run.request.model, route, usage, finish, self.started)


def route_class(route: Route) -> str:
    """The short reason label of ``deepfort:route_total``: simple, complex, requested, fallback, local."""
    if route.degraded:
        return "fallback"
    head = route.reason.split(":", 1)[0].split(" ", 1)[0]
    return head if head in ("simple", "complex", "requested") else "local"


def observe(
    request: Request,
    timing: Timing,
    started: float,
    usage: Usage,
    model: str,
    route: Route | None,
    finish: str | None,
) -> None:
    """Metrics for one finished generation, and the fields its access-log line carries."""
    now = time.perf_counter()
    tier = "local" if route is None else route.tier
    ttft = None if timing.first is None else timing.first - started
    node(request).metrics.request_finished(
        model=model,
        tier=tier,
        ttft_s=ttft,
        itl_s=timing.gaps,
        e2e_s=now - started,
        queue_s=timing.queue_s,
        prompt_tokens=usage.prompt_tokens,
        generation_tokens=usage.completion_tokens,
        finished_reason=finish or "unknown",
    )
    request.scope.setdefault("state", {})[ACCESS_STATE] = {
        "key_id": principal(request).key_id,
        "model": model,
        "tier": tier,
        "route_reason": None if route is None else route.reason,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "ttft_ms": None if ttft is None else round(ttft * 1000, 2),
        "finish_reason": finish,
    }


async def keep_record(
    request: Request, model: str, route: Route | None, usage: Usage, finish: str | None, started: float
) -> None:
    """The request record (no prompt text): usage reports, and what feedback is attached to."""
    access = request.scope.get("state", {}).get(ACCESS_STATE, {})
    try:
        await asyncio.to_thread(
            node(request).store.add_request_record,
            id=request_id(request),
            key_id=principal(request).key_id,
            model=model[:200],
            tier=None if route is None else route.tier,
            route_reason=None if route is None else route.reason[:200],
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            status=200,
            finish_reason=finish,
            latency_ms=(time.perf_counter() - started) * 1000,
            ttft_ms=access.get("ttft_ms"),
        )
    except RowExistsError:
        log.info("request id reused; request record kept from the first use")


async def audit(request: Request, action: str, detail: dict[str, object]) -> None:
    """An audit entry for the caller of ``request`` (details never carry the values found)."""
    entry = {**detail, "request_id": request_id(request)}
    await asyncio.to_thread(node(request).audit.append, principal(request).key_id, action, entry)


async def guard_refusal(request: Request, exc: SensitiveInputError) -> None:
    """Personal data refused under the ``block`` policy: audited (the message names kinds only)."""
    await audit(request, "guard.pii", {"policy": "block", "refused": exc.message})


async def guard_input(request: Request, screened: Screened | ScreenedTexts | None) -> None:
    """Personal data found (and masked or allowed): counted and audited as kinds and counts."""
    if screened is None or not screened.pii.found:
        return
    for kind, count in screened.pii.found.items():
        node(request).metrics.guard_hit(f"pii:{kind}", count)
    await audit(request, "guard.pii", {"policy": screened.policy, "kinds": dict(screened.pii.found)})


async def guard_moderation(request: Request, hits: dict[str, int]) -> None:
    """Moderation hits of a finished answer: counted and audited by category."""
    if not hits:
        return
    for category, count in hits.items():
        node(request).metrics.guard_hit(f"moderation:{category}", count)
    await audit(request, "guard.moderation", {"categories": hits})


def _user_texts(body: ChatCompletionRequest) -> list[str]:
    return [str(m["content"]) for m in template_messages(body.messages) if m["role"] == "user"]


def _first_user_text(body: ChatCompletionRequest) -> str:
    texts = _user_texts(body)
    return texts[0].strip().replace("\n", " ") if texts else ""


def _last_user_text(body: ChatCompletionRequest) -> str:
    texts = _user_texts(body)
    return texts[-1] if texts else ""

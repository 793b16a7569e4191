"""What a chat request leaves behind: the stored conversation, the request record, audit entries."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from fastapi import Request

from deepfort.api.auth import principal
from deepfort.api.deps import node, request_id
from deepfort.api.protocol import ChatCompletionRequest, Usage
from deepfort.errors import NotFoundError, SensitiveInputError
from deepfort.serving.chat import ChatRun
from deepfort.serving.params import template_messages
from deepfort.serving.remote import RemoteChatRun
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

    async def refused(self, exc: SensitiveInputError) -> None:
        detail = {"policy": "block", "refused": exc.message, "request_id": request_id(self.request)}
        await asyncio.to_thread(
            node(self.request).audit.append, principal(self.request).key_id, "guard.pii", detail
        )

    async def audit_input(self, run: ChatRun | RemoteChatRun) -> None:
        screened = run.screened
        if screened is not None and screened.pii.found:
            detail = {
                "policy": screened.policy,
                "kinds": dict(screened.pii.found),
                "request_id": request_id(self.request),
            }
            await asyncio.to_thread(
                node(self.request).audit.append, principal(self.request).key_id, "guard.pii", detail
            )

    async def finish(self, run: ChatRun | RemoteChatRun, usage: Usage) -> None:
        caller = principal(self.request)
        services = node(self.request)
        hits = run.moderation_hits()
        if hits:
            detail = {"categories": hits, "request_id": request_id(self.request)}
            await asyncio.to_thread(services.audit.append, caller.key_id, "guard.moderation", detail)
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
        route = run.route
        try:
            await asyncio.to_thread(
                services.store.add_request_record,
                id=request_id(self.request),
                key_id=caller.key_id,
                model=run.request.model,
                tier=None if route is None else route.tier,
                route_reason=None if route is None else route.reason[:500],
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                status=200,
                latency_ms=(time.perf_counter() - self.started) * 1000,
            )
        except RowExistsError:
            log.info("request id reused; request record kept from the first use")


async def audit(request: Request, action: str, detail: dict[str, object]) -> None:
    """An audit entry for the caller of ``request`` (details never carry the values found)."""
    entry = {**detail, "request_id": request_id(request)}
    await asyncio.to_thread(node(request).audit.append, principal(request).key_id, action, entry)


def _user_texts(body: ChatCompletionRequest) -> list[str]:
    return [str(m["content"]) for m in template_messages(body.messages) if m["role"] == "user"]


def _first_user_text(body: ChatCompletionRequest) -> str:
    texts = _user_texts(body)
    return texts[0].strip().replace("\n", " ") if texts else ""


def _last_user_text(body: ChatCompletionRequest) -> str:
    texts = _user_texts(body)
    return texts[-1] if texts else ""

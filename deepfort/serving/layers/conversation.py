"""Conversation storage: a chat request naming ``conversation_id`` (``"new"`` starts one) has the user's
turn and the answer appended, encrypted, once the run has ended. The stored turn is what the caller sent,
never the masked text the model saw."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar

from deepfort.errors import NotFoundError
from deepfort.protocol import ChatCompletionRequest
from deepfort.serving.call import Call
from deepfort.serving.layers.base import Layer
from deepfort.serving.params import template_messages
from deepfort.store import Store

if TYPE_CHECKING:
    from deepfort.serving.run import Run


class ConversationLayer(Layer):
    name: ClassVar[str] = "conversation"

    def __init__(self, store: Store) -> None:
        self.store = store

    async def before(self, call: Call) -> None:
        original = call.original
        if not isinstance(original, ChatCompletionRequest) or original.conversation_id is None:
            return
        owner = call.caller.key.key_id
        if original.conversation_id == "new":
            title = first_user_text(original)[:80] or "conversation"
            view = await asyncio.to_thread(self.store.create_conversation, owner, title, original.model)
            call.conversation_id = view.id
            return
        if await asyncio.to_thread(self.store.get_conversation, original.conversation_id, owner) is None:
            raise NotFoundError(f"no conversation {original.conversation_id!r}", param="conversation_id")
        call.conversation_id = original.conversation_id

    async def after(self, call: Call, run: Run) -> None:
        original = call.original
        if call.conversation_id is None or not isinstance(original, ChatCompletionRequest):
            return
        usage = run.usage()
        content, reasoning = run.answer(0)
        await asyncio.to_thread(
            self.store.add_message, call.conversation_id, "user", last_user_text(original)
        )
        await asyncio.to_thread(
            self.store.add_message,
            call.conversation_id,
            "assistant",
            content,
            reasoning or None,
            call.caller.request_id,
            run.model,
            usage.prompt_tokens,
            usage.completion_tokens,
        )


def _user_texts(body: ChatCompletionRequest) -> list[str]:
    return [str(m["content"]) for m in template_messages(body.messages) if m["role"] == "user"]


def first_user_text(body: ChatCompletionRequest) -> str:
    texts = _user_texts(body)
    return texts[0].strip().replace("\n", " ") if texts else ""


def last_user_text(body: ChatCompletionRequest) -> str:
    texts = _user_texts(body)
    return texts[-1] if texts else ""

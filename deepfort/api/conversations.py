"""Conversations kept (encrypted) for the key that owns them: list, read, rename, delete."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from deepfort.api.auth import principal
from deepfort.api.deps import node
from deepfort.errors import NotFoundError

router = APIRouter(prefix="/v1/conversations")


def _owner(request: Request, all_keys: bool) -> str | None:
    """Users see their own conversations; an admin may ask for everyone's with ``all=true``."""
    key = principal(request)
    return None if all_keys and key.is_admin else key.key_id


def _plain(value: Any) -> dict[str, Any]:
    out = asdict(value)
    for name, item in out.items():
        if hasattr(item, "isoformat"):
            out[name] = item.isoformat()
    if "messages" in out:
        out["messages"] = [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in m.items()}
            for m in out["messages"]
        ]
    return out


@router.get("")
async def list_conversations(
    request: Request,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=2**31 - 1),
    q: str | None = Query(default=None, description="Only conversations whose title contains this."),
    all: bool = Query(default=False, description="Admins: everyone's conversations."),
) -> dict[str, object]:
    store = node(request).store
    rows = await asyncio.to_thread(
        store.list_conversations, _owner(request, all), limit=limit, offset=offset, query=q
    )
    return {"object": "list", "data": [_plain(r) for r in rows]}


@router.get("/{conversation_id}")
async def get_conversation(conversation_id: str, request: Request, all: bool = False) -> dict[str, object]:
    view = await asyncio.to_thread(
        node(request).store.get_conversation, conversation_id, _owner(request, all)
    )
    if view is None:
        raise NotFoundError(f"no conversation {conversation_id!r}", param="conversation_id")
    return _plain(view)


class Rename(BaseModel):
    title: str = Field(min_length=1, max_length=500)


@router.patch("/{conversation_id}")
async def rename_conversation(conversation_id: str, body: Rename, request: Request) -> dict[str, object]:
    store = node(request).store
    owner = principal(request).key_id
    if not await asyncio.to_thread(store.rename_conversation, conversation_id, owner, body.title):
        raise NotFoundError(f"no conversation {conversation_id!r}", param="conversation_id")
    return {"id": conversation_id, "title": body.title}


@router.delete("/{conversation_id}")
async def delete_conversation(conversation_id: str, request: Request) -> dict[str, object]:
    store = node(request).store
    if not await asyncio.to_thread(store.delete_conversation, conversation_id, principal(request).key_id):
        raise NotFoundError(f"no conversation {conversation_id!r}", param="conversation_id")
    return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}

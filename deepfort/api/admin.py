"""Admin API (admin keys only): API keys and the audit trail."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from deepfort.api.auth import principal
from deepfort.api.deps import node

router = APIRouter(prefix="/admin")


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["user", "admin"] = "user"
    rate: str | None = Field(default=None, description="Requests per window, e.g. `60/min`.")
    tokens: str | None = Field(default=None, description="Tokens per window, e.g. `200000/day`.")
    models: list[str] | None = Field(default=None, description="Models this key may use; all when null.")
    expires_at: datetime | None = None
    pii_policy: Literal["mask", "block", "allow"] | None = None


@router.get("/keys")
async def list_keys(request: Request) -> dict[str, object]:
    keys = await asyncio.to_thread(node(request).auth.keys.list)
    return {"object": "list", "data": [k.as_dict() for k in keys]}


@router.post("/keys", status_code=201)
async def create_key(body: KeyCreate, request: Request) -> dict[str, object]:
    """The new key's secret is in `key`: shown this once, only a salted hash is kept."""
    auth = node(request).auth
    created = await asyncio.to_thread(
        auth.keys.create,
        body.name,
        body.role,
        rate=body.rate,
        tokens=body.tokens,
        models=body.models,
        expires_at=body.expires_at,
        pii_policy=body.pii_policy,
        actor=principal(request).key_id,
    )
    await auth.refresh()
    return {**created.key.as_dict(), "key": created.token}


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, request: Request) -> dict[str, object]:
    auth = node(request).auth
    key = await asyncio.to_thread(auth.keys.revoke, key_id, principal(request).key_id)
    auth.cache.drop(key_id)
    return key.as_dict()

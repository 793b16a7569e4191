"""Admin API (admin keys only): API keys, and models added while running."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from deepfort import catalog
from deepfort.api.auth import principal
from deepfort.api.deps import node
from deepfort.config import LocalModel
from deepfort.errors import ConfigError, InvalidRequestError
from deepfort.reasoning import UnknownReasoningParserError, get_parser
from deepfort.routing.router import AUTO

router = APIRouter(prefix="/admin")


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["user", "admin"] = "user"
    rate: str | None = Field(default=None, description="Requests per window, e.g. `60/min`.")
    tokens: str | None = Field(default=None, description="Tokens per window, e.g. `200000/day`.")
    models: list[str] | None = Field(default=None, description="Models this key may use; all when null.")
    expires_at: datetime | None = None
    pii_policy: Literal["mask", "block", "allow"] | None = None


def _register(data_dir: Path, spec: LocalModel) -> LocalModel:
    """Check the file and record the spec in the model registry (blocking: run in a thread)."""
    assert spec.path is not None
    options = spec.model_dump(exclude={"id", "path", "kind"}, exclude_defaults=True)
    try:
        entry = catalog.add_model(data_dir, spec.path, model_id=spec.id, source="added", **options)
    except ConfigError as exc:
        raise InvalidRequestError(exc.message, param="path") from None
    assert isinstance(entry.spec, LocalModel)
    return entry.spec


@router.post("/models", status_code=201)
async def add_model(spec: LocalModel, request: Request) -> dict[str, object]:
    """Register a GGUF file on the server (kept in the model registry, like `deepfort models add`) and
    serve it now. The body is a local model spec, as in the settings' `models`; `id` defaults to the file
    name."""
    services = node(request)
    if spec.path is None:
        raise InvalidRequestError("`path` (a GGUF file on the server) is required", param="path")
    if not spec.path.expanduser().is_file():
        raise InvalidRequestError(f"no file at {spec.path}", param="path", code="model_file_missing")
    if spec.reasoning_parser is not None:
        try:
            get_parser(spec.reasoning_parser)
        except UnknownReasoningParserError as exc:  # the registry's message, as a client error
            raise InvalidRequestError(exc.message, param="reasoning_parser") from None
    taken = [name for name in spec.names if name in services.pool or name == AUTO]
    if taken:
        raise InvalidRequestError(f"model name {taken[0]!r} is taken", param="id", code="model_exists")
    added = await asyncio.to_thread(_register, services.settings.data_dir, spec)
    try:
        served = await services.pool.add(added)
    except ConfigError as exc:
        raise InvalidRequestError(exc.message, param="path") from None
    await asyncio.to_thread(
        services.audit.append,
        principal(request).key_id,
        "model.add",
        {"id": served.id, "path": str(spec.path)},
    )
    return {"id": served.id, "object": "model", "aliases": served.spec.aliases, "ready": served.ready}


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

"""Admin API (admin keys only): API keys, and models added while running."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from deepfort import catalog
from deepfort.api.auth import principal
from deepfort.api.deps import node
from deepfort.config import ModelConfig
from deepfort.errors import ConfigError, InvalidRequestError
from deepfort.reasoning import parser_names
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


class ModelAdd(BaseModel):
    path: str = Field(min_length=1, max_length=4096, description="A GGUF file on the server.")
    id: str | None = Field(default=None, min_length=1, max_length=200, description="Default: the file name.")
    n_ctx: int | None = Field(default=None, ge=64, le=1_048_576)
    n_parallel: int | None = Field(default=None, ge=1, le=256)
    reasoning_parser: str | None = Field(default=None, max_length=64, description="e.g. `deepseek_r1`.")
    aliases: list[str] = Field(default_factory=list, max_length=16)


def _register(data_dir: Path, body: ModelAdd) -> ModelConfig:
    """Check the file and record it in the model registry (blocking: run in a thread)."""
    path = Path(body.path).expanduser()
    if not path.is_file():
        raise InvalidRequestError(f"no file at {body.path}", param="path", code="model_file_missing")
    options: dict[str, Any] = {"aliases": body.aliases}
    for name in ("n_ctx", "n_parallel", "reasoning_parser"):
        if getattr(body, name) is not None:
            options[name] = getattr(body, name)
    try:
        entry = catalog.add_model(data_dir, path, model_id=body.id, **options)
    except ConfigError as exc:
        raise InvalidRequestError(exc.message, param="path") from None
    return ModelConfig.model_validate(entry.model_dump(include=set(ModelConfig.model_fields)))


@router.post("/models", status_code=201)
async def add_model(body: ModelAdd, request: Request) -> dict[str, object]:
    """Register a GGUF file (kept in the model registry, like `deepfort models add`) and serve it now."""
    services = node(request)
    if body.reasoning_parser is not None and body.reasoning_parser not in parser_names():
        known = ", ".join(parser_names())
        raise InvalidRequestError(f"unknown reasoning parser; known: {known}", param="reasoning_parser")
    names = [body.id or Path(body.path).stem.lower(), *body.aliases]
    taken = [name for name in names if name in services.pool or name == AUTO]
    if taken:
        raise InvalidRequestError(f"model name {taken[0]!r} is taken", param="id", code="model_exists")
    config = await asyncio.to_thread(_register, services.settings.data_dir, body)
    try:
        served = await services.pool.add(config)
    except ConfigError as exc:
        raise InvalidRequestError(exc.message, param="path") from None
    await asyncio.to_thread(
        services.audit.append, principal(request).key_id, "model.add", {"id": served.id, "path": body.path}
    )
    return {"id": served.id, "object": "model", "aliases": served.config.aliases, "ready": served.ready}


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

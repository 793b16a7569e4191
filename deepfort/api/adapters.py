"""LoRA adapters on running models (admin keys only): ours under ``/admin/models/{id}/adapters``, and
vLLM's ``/v1/load_lora_adapter`` and ``/v1/unload_lora_adapter`` for clients written against vLLM."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from deepfort.api.auth import principal
from deepfort.api.deps import node
from deepfort.config import ADAPTER_NAME, LoraAdapter
from deepfort.errors import InvalidRequestError
from deepfort.serving.adapters import AdapterChange
from deepfort.serving.pool import ADAPTER_SEPARATOR

router = APIRouter()


class AdapterAdd(LoraAdapter):
    keep: bool = Field(
        default=True, description="Serve it at every start from now on (the adapter registry)."
    )


def _shown(change: AdapterChange) -> dict[str, object]:
    return {
        "id": change.model_id,
        "object": "model",
        "parent": change.served.id,
        "root": str(change.adapter.path),
        "lora": change.adapter.model_dump(mode="json"),
        "registered": change.registered,
    }


@router.post("/admin/models/{model_id}/adapters", status_code=201)
async def add_adapter(model_id: str, body: AdapterAdd, request: Request) -> dict[str, object]:
    """Serve a GGUF LoRA adapter on a running model, as the model id `model_id:name`."""
    adapter = LoraAdapter(name=body.name, path=body.path, scale=body.scale)
    change = await node(request).adapters.add(
        model_id, adapter, actor=principal(request).key_id, keep=body.keep
    )
    return _shown(change)


@router.delete("/admin/models/{model_id}/adapters/{name}")
async def remove_adapter(model_id: str, name: str, request: Request) -> dict[str, object]:
    """Stop serving an adapter (requests already using it finish) and drop it from the registry."""
    change = await node(request).adapters.remove(model_id, name, actor=principal(request).key_id)
    return {**_shown(change), "deleted": True}


class LoadLoraAdapter(BaseModel):
    """vLLM's body. ``lora_name`` is ``base:name``, or a bare name for the server's first model."""

    lora_name: str = Field(min_length=1)
    lora_path: Path | None = None


def _split(request: Request, lora_name: str) -> tuple[str, str]:
    base, sep, name = lora_name.rpartition(ADAPTER_SEPARATOR)
    return (base, name) if sep else (node(request).pool.default.id, lora_name)


@router.post("/v1/load_lora_adapter", response_class=PlainTextResponse)
async def load_lora_adapter(body: LoadLoraAdapter, request: Request) -> str:
    """Serve an adapter until the server stops (vLLM's runtime loading: not kept in the registry)."""
    model, name = _split(request, body.lora_name)
    if body.lora_path is None:
        raise InvalidRequestError(
            "`lora_path` (a GGUF LoRA adapter on the server) is required", param="lora_path"
        )
    if not re.match(ADAPTER_NAME, name):
        raise InvalidRequestError(
            f"{name!r} is not an adapter name (up to 64 letters, digits, '.', '_' or '-')", param="lora_name"
        )
    adapter = LoraAdapter(name=name, path=body.lora_path)
    await node(request).adapters.add(model, adapter, actor=principal(request).key_id, keep=False)
    return f"Success: LoRA adapter '{body.lora_name}' added successfully."


@router.post("/v1/unload_lora_adapter", response_class=PlainTextResponse)
async def unload_lora_adapter(body: LoadLoraAdapter, request: Request) -> str:
    model, name = _split(request, body.lora_name)
    await node(request).adapters.remove(model, name, actor=principal(request).key_id)
    return f"Success: LoRA adapter '{body.lora_name}' removed successfully."

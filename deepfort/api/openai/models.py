"""GET /v1/models and GET /v1/models/{id}"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from deepfort.api.deps import model_pool, node
from deepfort.config import UpstreamModel
from deepfort.protocol import ErrorResponse, ModelCard, ModelList
from deepfort.routing.router import AUTO
from deepfort.serving.pool import ServedModel

router = APIRouter()


def _cards(served: ServedModel) -> list[ModelCard]:
    """The model under each of its names, then each LoRA adapter as a model of its own (vLLM's cards:
    ``root`` the adapter file, ``parent`` the base model)."""
    spec = served.spec
    details = {**served.engine.describe(), "reasoning_parser": spec.reasoning_parser}
    cards = [
        ModelCard(
            id=name,
            created=served.created,
            root=served.id,
            max_model_len=spec.n_ctx,
            details=details,
            sampling_defaults=spec.sampling_defaults.given(),
            demo=spec.embedded,
        )
        for name in spec.names
    ]
    cards += [
        ModelCard(
            id=served.adapter_id(adapter.name),
            created=served.created,
            root=str(adapter.path),
            parent=served.id,
            max_model_len=spec.n_ctx,
            details={"lora": adapter.model_dump(mode="json"), "reasoning_parser": spec.reasoning_parser},
            sampling_defaults=spec.sampling_defaults.given(),
        )
        for adapter in served.adapters
    ]
    return cards


def _routed_cards(request: Request) -> list[ModelCard]:
    """On an edge: ``auto`` and the models its centers serve."""
    router_ = node(request).router
    if not router_.edge:
        return []
    created = int(time.time())
    cards = [
        ModelCard(
            id=AUTO,
            created=created,
            owned_by="router",
            details={
                "tier": "router",
                "edge_model": router_.edge_model(),
                "centers": len(router_.centers.centers),
            },
        )
    ]
    upstream = {n: m for m in node(request).settings.models if isinstance(m, UpstreamModel) for n in m.names}
    for center in router_.centers.centers:
        for name, wire in center.names.items():
            if any(card.id == name for card in cards):
                continue
            details = {"tier": "center", "upstream_model": wire, **center.status()}
            spec = upstream.get(name)
            sampling = spec.sampling_defaults.given() if spec is not None else None
            cards.append(
                ModelCard(
                    id=name,
                    created=created,
                    owned_by="center",
                    root=wire,
                    details=details,
                    sampling_defaults=sampling,
                )
            )
    return cards


@router.get("/v1/models", response_model=ModelList)
async def list_models(request: Request) -> ModelList:
    local = [card for served in model_pool(request) for card in _cards(served)]
    return ModelList(data=local + [c for c in _routed_cards(request) if all(c.id != m.id for m in local)])


@router.get("/v1/models/{model_id:path}", response_model=ModelCard, responses={404: {"model": ErrorResponse}})
async def get_model(model_id: str, request: Request) -> ModelCard:
    routed = next((card for card in _routed_cards(request) if card.id == model_id), None)
    if routed is not None and model_id not in model_pool(request):
        return routed
    served = model_pool(request).get(model_id)
    return next(card for card in _cards(served) if card.id == model_id)

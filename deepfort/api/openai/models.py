"""GET /v1/models and GET /v1/models/{id}"""

from __future__ import annotations

from fastapi import APIRouter, Request

from deepfort.api.deps import model_pool
from deepfort.api.protocol import ErrorResponse, ModelCard, ModelList
from deepfort.serving.pool import ServedModel

router = APIRouter()


def _cards(served: ServedModel) -> list[ModelCard]:
    details = {**served.engine.describe(), "reasoning_parser": served.config.reasoning_parser}
    return [
        ModelCard(
            id=name,
            created=served.created,
            root=served.id,
            max_model_len=served.config.n_ctx,
            details=details,
        )
        for name in served.config.names
    ]


@router.get("/v1/models", response_model=ModelList)
async def list_models(request: Request) -> ModelList:
    return ModelList(data=[card for served in model_pool(request) for card in _cards(served)])


@router.get("/v1/models/{model_id:path}", response_model=ModelCard, responses={404: {"model": ErrorResponse}})
async def get_model(model_id: str, request: Request) -> ModelCard:
    served = model_pool(request).get(model_id)
    return next(card for card in _cards(served) if card.id == model_id)

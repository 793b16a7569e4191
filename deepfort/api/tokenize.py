"""POST /tokenize, POST /detokenize and GET /tokenizer_info (vLLM's extension endpoints)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from deepfort.api.deps import tokenize_service
from deepfort.api.openai.chat import ERRORS
from deepfort.protocol import (
    DetokenizeRequest,
    DetokenizeResponse,
    TokenizeRequest,
    TokenizeResponse,
    TokenizerInfoResponse,
)

router = APIRouter()


@router.post("/tokenize", response_model=TokenizeResponse, responses=ERRORS)
async def tokenize(body: TokenizeRequest, request: Request) -> TokenizeResponse:
    return tokenize_service(request).tokenize(body)


@router.post("/detokenize", response_model=DetokenizeResponse, responses=ERRORS)
async def detokenize(body: DetokenizeRequest, request: Request) -> DetokenizeResponse:
    return tokenize_service(request).detokenize(body)


@router.get("/tokenizer_info", response_model=TokenizerInfoResponse, responses=ERRORS)
async def tokenizer_info(request: Request, model: str | None = None) -> TokenizerInfoResponse:
    """The tokenizer of ``model`` (default: the first served model), as vLLM answers it."""
    return tokenize_service(request).tokenizer_info(model)

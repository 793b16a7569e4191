"""POST /tokenize and POST /detokenize (vLLM's extension endpoints)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from deepfort.api.deps import tokenize_service
from deepfort.api.openai.chat import ERRORS
from deepfort.protocol import DetokenizeRequest, DetokenizeResponse, TokenizeRequest, TokenizeResponse

router = APIRouter()


@router.post("/tokenize", response_model=TokenizeResponse, responses=ERRORS)
async def tokenize(body: TokenizeRequest, request: Request) -> TokenizeResponse:
    return tokenize_service(request).tokenize(body)


@router.post("/detokenize", response_model=DetokenizeResponse, responses=ERRORS)
async def detokenize(body: DetokenizeRequest, request: Request) -> DetokenizeResponse:
    return tokenize_service(request).detokenize(body)

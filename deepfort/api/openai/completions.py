"""POST /v1/completions"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deepfort.api.deps import pipeline
from deepfort.api.openai.chat import ERRORS
from deepfort.api.streaming import caller, respond
from deepfort.protocol import Completion, CompletionRequest
from deepfort.serving.assemble import text_chunks, text_completion

router = APIRouter()


@router.post("/v1/completions", response_model=Completion, responses=ERRORS)
async def create_completion(body: CompletionRequest, request: Request) -> Response:
    run = await pipeline(request).execute(body, caller(request))
    return await respond(request, run, stream=body.stream, chunks=text_chunks, whole=text_completion)

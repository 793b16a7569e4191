"""POST /v1/completions"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deepfort.api.auth import admit
from deepfort.api.deps import completion_service, request_id
from deepfort.api.openai.chat import ERRORS
from deepfort.api.protocol import Completion, CompletionRequest
from deepfort.api.streaming import respond

router = APIRouter()


@router.post("/v1/completions", response_model=Completion, responses=ERRORS)
async def create_completion(body: CompletionRequest, request: Request) -> Response:
    finished = await admit(request, body.model)
    run = await completion_service(request).start(body, request_id(request))
    return await respond(request, run, stream=body.stream, finished=finished)

"""POST /v1/chat/completions"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deepfort.api.deps import chat_service, request_id
from deepfort.api.protocol import ChatCompletion, ChatCompletionRequest, ErrorResponse
from deepfort.api.streaming import respond
from deepfort.routing.route import ROUTE_HEADER

router = APIRouter()

ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    413: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}


@router.post("/v1/chat/completions", response_model=ChatCompletion, responses=ERRORS)
async def create_chat_completion(body: ChatCompletionRequest, request: Request) -> Response:
    run = await chat_service(request).start(body, request_id(request))
    response = await respond(request, run, stream=body.stream)
    if run.route is not None:
        response.headers[ROUTE_HEADER] = run.route.header()
    return response

"""POST /v1/chat/completions"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deepfort.api.deps import pipeline
from deepfort.api.streaming import caller, respond
from deepfort.protocol import ChatCompletion, ChatCompletionRequest, ErrorResponse
from deepfort.routing.route import ROUTE_HEADER
from deepfort.serving.assemble import chat_chunks, chat_completion

router = APIRouter()
CONVERSATION_HEADER = "x-deepfort-conversation-id"

ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorResponse},
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
    429: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    413: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}


@router.post("/v1/chat/completions", response_model=ChatCompletion, responses=ERRORS)
async def create_chat_completion(body: ChatCompletionRequest, request: Request) -> Response:
    run = await pipeline(request).execute(body, caller(request))
    response = await respond(request, run, stream=body.stream, chunks=chat_chunks, whole=chat_completion)
    if run.route is not None:
        response.headers[ROUTE_HEADER] = run.route.header()
    if run.call.conversation_id is not None:
        response.headers[CONVERSATION_HEADER] = run.call.conversation_id
    return response

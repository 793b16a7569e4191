"""POST /v1/chat/completions"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deepfort.api.auth import admit, principal
from deepfort.api.deps import chat_service, request_id
from deepfort.api.records import CONVERSATION_HEADER, Keeper, guard_input, guard_refusal
from deepfort.api.streaming import respond
from deepfort.errors import SensitiveInputError
from deepfort.protocol import ChatCompletion, ChatCompletionRequest, ErrorResponse, Usage
from deepfort.routing.route import ROUTE_HEADER

router = APIRouter()

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
    charge = await admit(request, body.model)
    keeper = Keeper(request, body)
    await keeper.open_conversation()
    try:
        run = await chat_service(request).start(body, request_id(request), principal(request))
    except SensitiveInputError as exc:
        await guard_refusal(request, exc)
        raise
    await guard_input(request, run.screened)
    run.conversation_id = keeper.conversation_id

    async def finished(usage: Usage) -> None:
        await charge(usage)
        await keeper.finish(run, usage)

    response = await respond(request, run, stream=body.stream, finished=finished)
    if run.route is not None:
        response.headers[ROUTE_HEADER] = run.route.header()
    if keeper.conversation_id is not None:
        response.headers[CONVERSATION_HEADER] = keeper.conversation_id
    return response

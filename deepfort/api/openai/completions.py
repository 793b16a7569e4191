"""POST /v1/completions"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from deepfort.api.deps import completion_service, request_id
from deepfort.api.openai.chat import ERRORS
from deepfort.api.protocol import Completion, CompletionRequest
from deepfort.api.streaming import ClientDisconnectedError, sse, until_disconnect

router = APIRouter()


@router.post("/v1/completions", response_model=Completion, responses=ERRORS)
async def create_completion(body: CompletionRequest, request: Request) -> Response:
    run = await completion_service(request).start(body, request_id(request))
    if body.stream:
        return StreamingResponse(sse(request, run.stream()), media_type="text/event-stream")
    try:
        result = await until_disconnect(request, run.collect())
    except ClientDisconnectedError:
        await run.close()
        return Response(status_code=499)
    return Response(result.model_dump_json(), media_type="application/json")

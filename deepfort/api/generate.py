"""POST /generate: ``{prompt, max_length}`` in, ``{response}`` out, for clients of the older API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deepfort.api.deps import node, pipeline
from deepfort.api.openai.chat import ERRORS
from deepfort.api.streaming import caller, collect
from deepfort.protocol import ChatCompletionRequest, GenerateRequest, GenerateResponse, UserMessage
from deepfort.routing.route import ROUTE_HEADER
from deepfort.serving.assemble import chat_completion

router = APIRouter()


@router.post("/generate", response_model=GenerateResponse, responses=ERRORS)
async def generate(body: GenerateRequest, request: Request) -> Response:
    # No model named: the routing default (`auto` routes on an edge; a standalone node answers locally).
    chat = ChatCompletionRequest(
        model=body.model or node(request).router.settings.default_model,
        messages=[UserMessage(role="user", content=body.prompt)],
        max_tokens=body.max_length,
        temperature=body.temperature,
    )
    run = await pipeline(request).execute(chat, caller(request))
    result = await collect(request, run, chat_completion)
    if result is None:
        return Response(status_code=499)
    choice = result.choices[0]
    reply = GenerateResponse(
        response=choice.message.content or "",
        model=result.model,
        reasoning_content=choice.message.reasoning_content,
        finish_reason=choice.finish_reason,
        usage=result.usage,
    )
    headers = {ROUTE_HEADER: run.route.header()} if run.route is not None else None
    return Response(reply.model_dump_json(), media_type="application/json", headers=headers)

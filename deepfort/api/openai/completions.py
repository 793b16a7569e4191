"""POST /v1/completions"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deepfort.api.auth import admit, principal
from deepfort.api.deps import completion_service, request_id
from deepfort.api.openai.chat import ERRORS
from deepfort.api.records import guard_input, guard_moderation, guard_refusal, keep_record, observe
from deepfort.api.streaming import respond
from deepfort.errors import SensitiveInputError
from deepfort.protocol import Completion, CompletionRequest, Usage

router = APIRouter()


@router.post("/v1/completions", response_model=Completion, responses=ERRORS)
async def create_completion(body: CompletionRequest, request: Request) -> Response:
    started = time.perf_counter()
    charge = await admit(request, body.model)
    try:
        run = await completion_service(request).start(body, request_id(request), principal(request))
    except SensitiveInputError as exc:
        await guard_refusal(request, exc)
        raise
    await guard_input(request, run.screened)

    async def finished(usage: Usage) -> None:
        await charge(usage)
        finish = run.finish[0] if run.finish else None
        observe(request, run.timing, started, usage, run.request.model, None, finish)
        await keep_record(request, run.request.model, None, usage, finish, started)
        await guard_moderation(request, run.moderation_hits())

    return await respond(request, run, stream=body.stream, finished=finished)

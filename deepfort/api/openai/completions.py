"""POST /v1/completions"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deepfort.api.auth import admit, principal
from deepfort.api.deps import completion_service, request_id
from deepfort.api.openai.chat import ERRORS
from deepfort.api.protocol import Completion, CompletionRequest, Usage
from deepfort.api.records import audit, observe
from deepfort.api.streaming import respond
from deepfort.errors import SensitiveInputError

router = APIRouter()


@router.post("/v1/completions", response_model=Completion, responses=ERRORS)
async def create_completion(body: CompletionRequest, request: Request) -> Response:
    started = time.perf_counter()
    charge = await admit(request, body.model)
    try:
        run = await completion_service(request).start(body, request_id(request), principal(request))
    except SensitiveInputError as exc:
        await audit(request, "guard.pii", {"policy": "block", "refused": exc.message})
        raise
    if run.screened is not None and run.screened.pii.found:
        await audit(
            request, "guard.pii", {"policy": run.screened.policy, "kinds": dict(run.screened.pii.found)}
        )

    async def finished(usage: Usage) -> None:
        await charge(usage)
        observe(
            request,
            run.timing,
            started,
            usage,
            run.request.model,
            None,
            run.finish[0] if run.finish else None,
        )
        hits = run.moderation_hits()
        if hits:
            await audit(request, "guard.moderation", {"categories": hits})

    return await respond(request, run, stream=body.stream, finished=finished)

"""POST /v1/feedback: a verdict on an answer (thumbs up/down, optional correction), kept with its request.
Verdicts feed the rolling answer accuracy (``deepfort:answer_accuracy``)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from deepfort.api.auth import principal
from deepfort.api.deps import node
from deepfort.errors import NotFoundError

router = APIRouter()
PREFIXES = ("chatcmpl-", "cmpl-")


class FeedbackRequest(BaseModel):
    response_id: str = Field(
        min_length=1, max_length=140, description="The `id` of a response (or its request id)."
    )
    rating: Literal["up", "down"]
    correction: str | None = Field(
        default=None, max_length=20000, description="What the answer should have been."
    )
    source: Literal["user", "golden"] = Field(
        default="user", description="`golden`: a golden-set check (`deepfort eval golden`); admin keys only."
    )


@router.post("/v1/feedback", status_code=201)
async def give_feedback(body: FeedbackRequest, request: Request) -> dict[str, object]:
    services, caller = node(request), principal(request)
    request_id = body.response_id
    for prefix in PREFIXES:
        request_id = request_id.removeprefix(prefix)
    exists, owner = await asyncio.to_thread(services.store.request_owner, request_id)
    # Feedback is for answers the caller got; a key never learns whether another key's request exists.
    if not exists or (owner != caller.key_id and not caller.is_admin):
        raise NotFoundError(f"no response {body.response_id!r} of this key", param="response_id")
    source = body.source if caller.is_admin else "user"
    correct = body.rating == "up"
    row = await asyncio.to_thread(
        services.store.add_feedback,
        request_id,
        correct=correct,
        source=source,
        key_id=caller.key_id,
        correction=body.correction,
    )
    services.accuracy.add(correct)
    return {"id": row.id, "object": "feedback", "request_id": request_id, "accuracy": services.accuracy.value}

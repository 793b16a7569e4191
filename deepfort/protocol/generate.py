"""The older `/generate` API: `{prompt, max_length}` in, `{response}` out."""

from __future__ import annotations

from pydantic import BaseModel, Field

from deepfort.protocol.common import Request, Usage


class GenerateRequest(Request):
    """The simple endpoint older clients use: one prompt in, one answer out."""

    prompt: str = Field(min_length=1)
    max_length: int = Field(default=256, ge=1)
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)


class GenerateResponse(BaseModel):
    response: str
    # -- extensions
    model: str
    reasoning_content: str | None = None
    finish_reason: str | None = None
    usage: Usage

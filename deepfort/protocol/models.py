"""Model listings (`/v1/models`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "deepfort"
    # -- extensions (vLLM)
    root: str | None = None
    parent: str | None = Field(default=None, description="A LoRA adapter's base model (vLLM's field).")
    max_model_len: int | None = None
    # -- extensions (deepfort)
    details: dict[str, Any] | None = None
    sampling_defaults: dict[str, float | int] | None = Field(
        default=None,
        description="What this model samples with where a request leaves a field out (temperature, top_p, "
        "top_k, min_p, repetition_penalty, max_tokens); fields not listed keep OpenAI's defaults.",
    )
    demo: bool = Field(
        default=False,
        description="The embedded SmolLM2-135M demonstration model: English only, for trying the plumbing.",
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]

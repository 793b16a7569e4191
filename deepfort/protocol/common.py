"""Shared wire shapes: the error body, usage, logprobs, response formats."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StreamOptions(Request):
    include_usage: bool = False


class JsonSchemaFormat(Request):
    name: str = "response"
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(Request):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("response_format of type json_schema needs a json_schema object")
        return self


class LoraRef(Request):
    """One LoRA adapter of the model for this request: by ``name`` (vLLM's adapter name, as in the model
    id ``base:name``) or by ``id`` (its position in ``/v1/models``' ``lora`` list, as llama-server's
    per-request ``lora``), with a ``scale`` or its configured one."""

    name: str | None = None
    id: int | None = Field(default=None, ge=0)
    scale: float | None = Field(default=None, ge=-10.0, le=10.0)

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_of(self) -> LoraRef:
        if (self.name is None) == (self.id is None):
            raise ValueError("a lora entry names its adapter by `name` or by `id`, one of the two")
        return self


LORA_FIELD_HELP = (
    "LoRA adapters of the model to apply: names, or objects with `name` or `id` and `scale` (llama-server's "
    "shape). The model id `base:name` asks for one adapter too."
)


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    completion_tokens_details: CompletionTokensDetails | None = None


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class ChatCompletionTokenLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    content: list[ChatCompletionTokenLogprob] | None = None

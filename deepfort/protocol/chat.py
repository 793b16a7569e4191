"""Chat completions: messages in, a completion or chunks out (OpenAI's `/v1/chat/completions`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from deepfort.protocol.common import (
    LORA_FIELD_HELP,
    ChoiceLogprobs,
    LoraRef,
    Request,
    ResponseFormat,
    StreamOptions,
    Usage,
)


class TextPart(Request):
    type: Literal["text"]
    text: str


class SystemMessage(Request):
    role: Literal["system", "developer"]
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(Request):
    role: Literal["user"]
    content: str | list[TextPart]
    name: str | None = None


class AssistantMessage(Request):
    role: Literal["assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    # -- extensions: earlier reasoning is accepted under either name and never fed back into the prompt
    reasoning_content: str | None = None
    reasoning: str | None = None


class ToolMessage(Request):
    role: Literal["tool"]
    content: str | list[TextPart]
    tool_call_id: str


ChatMessage = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")
]

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high"]


class ChatCompletionRequest(Request):
    messages: list[ChatMessage] = Field(min_length=1)
    model: str
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    logprobs: bool = False
    max_completion_tokens: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1, description="Deprecated by OpenAI; still accepted.")
    n: int = Field(default=1, ge=1)
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    reasoning_effort: ReasoningEffort | None = None
    response_format: ResponseFormat | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    user: str | None = None
    # -- extensions (vLLM / llama-server names)
    top_k: int | None = Field(default=None, ge=0)
    min_p: float | None = Field(default=None, ge=0.0, le=1.0)
    repetition_penalty: float | None = Field(default=None, gt=0.0, le=10.0)
    thinking_token_budget: int | None = Field(default=None, ge=0)
    cache_prompt: bool = Field(default=True, description="Reuse cached KV cells of a shared prompt prefix.")
    ignore_eos: bool = Field(
        default=False,
        description="Keep generating past the end-of-sequence token until max_tokens (vLLM's and "
        "llama-server's switch, for load tests of a fixed length).",
    )
    lora: list[LoraRef] | None = Field(default=None, max_length=8, description=LORA_FIELD_HELP)
    # -- extensions (deepfort)
    conversation_id: str | None = Field(
        default=None,
        max_length=64,
        description="Keep this exchange (encrypted) in a stored conversation: an id from "
        "`/v1/conversations`, or `new` to start one. The id comes back in `x-deepfort-conversation-id`.",
    )

    @model_validator(mode="after")
    def _check(self) -> ChatCompletionRequest:
        if isinstance(self.stop, list) and len(self.stop) > 4:
            raise ValueError("stop accepts at most 4 sequences")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs requires logprobs to be true")
        return self


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    refusal: str | None = None
    # -- extensions: both names, as DeepSeek/SGLang/llama-server and vLLM/Ollama spell it
    reasoning_content: str | None = None
    reasoning: str | None = None


class ChatChoice(BaseModel):
    index: int
    message: ChatMessageOut
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str | None


class RouteInfo(BaseModel):
    """Where a request was answered and why (also in the ``x-deepfort-route`` header)."""

    tier: Literal["local", "edge", "center"]
    model: str
    reason: str
    score: float | None = None
    target: str | None = None
    degraded: bool = False


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: str | None = None
    # -- extensions
    route: RouteInfo | None = None
    conversation_id: str | None = None


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    # -- extensions
    reasoning_content: str | None = None
    reasoning: str | None = None


class ChatChunkChoice(BaseModel):
    index: int
    delta: ChatDelta
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
    # -- extensions: sent in the first chunk only
    route: RouteInfo | None = None

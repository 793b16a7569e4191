"""Legacy text completions (OpenAI's `/v1/completions`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from deepfort.protocol.common import LORA_FIELD_HELP, LoraRef, Request, ResponseFormat, StreamOptions, Usage


class CompletionRequest(Request):
    model: str
    prompt: str | list[str] | list[int] | list[list[int]]
    echo: bool = False
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    logprobs: int | None = Field(default=None, ge=0, le=5)
    max_tokens: int | None = Field(
        default=16, ge=0, description="0 only with echo: the prompt alone, with its logprobs when asked."
    )
    n: int = Field(default=1, ge=1)
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    suffix: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    user: str | None = None
    # -- extensions
    top_k: int | None = Field(default=None, ge=0)
    min_p: float | None = Field(default=None, ge=0.0, le=1.0)
    repetition_penalty: float | None = Field(default=None, gt=0.0, le=10.0)
    response_format: ResponseFormat | None = None
    cache_prompt: bool = Field(default=True, description="Reuse cached KV cells of a shared prompt prefix.")
    ignore_eos: bool = Field(
        default=False,
        description="Keep generating past the end-of-sequence token until max_tokens (vLLM's and "
        "llama-server's switch, for load tests of a fixed length).",
    )
    lora: list[LoraRef] | None = Field(default=None, max_length=8, description=LORA_FIELD_HELP)

    @model_validator(mode="after")
    def _check(self) -> CompletionRequest:
        if isinstance(self.stop, list) and len(self.stop) > 4:
            raise ValueError("stop accepts at most 4 sequences")
        if isinstance(self.prompt, list) and not self.prompt:
            raise ValueError("prompt must not be an empty list")
        if self.max_tokens == 0 and not self.echo:
            raise ValueError("max_tokens must be at least 1 unless echo is true (0 returns the prompt only)")
        return self

    @property
    def prompt_logprobs(self) -> int | None:
        """How many alternatives each prompt token's logprob comes with: ``logprobs`` when the prompt is
        echoed (OpenAI's legacy API and vLLM: the logprobs then cover the prompt too), else None."""
        return self.logprobs if self.echo else None


class CompletionLogprobs(BaseModel):
    text_offset: list[int] = Field(default_factory=list)
    token_logprobs: list[float | None] = Field(default_factory=list)
    tokens: list[str] = Field(default_factory=list)
    top_logprobs: list[dict[str, float] | None] = Field(default_factory=list)


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: CompletionLogprobs | None = None
    finish_reason: str | None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None

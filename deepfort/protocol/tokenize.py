"""`/tokenize` and `/detokenize` (llama-server's and vLLM's shape)."""

from __future__ import annotations

from pydantic import BaseModel, model_validator

from deepfort.protocol.chat import ChatMessage
from deepfort.protocol.common import Request


class TokenizeRequest(Request):
    """vLLM's ``/tokenize``: a raw prompt, or chat messages rendered with the model's template."""

    model: str | None = None
    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    add_special_tokens: bool = True

    @model_validator(mode="after")
    def _one_input(self) -> TokenizeRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt or messages")
        return self


class TokenizeResponse(BaseModel):
    count: int
    max_model_len: int
    tokens: list[int]


class DetokenizeRequest(Request):
    model: str | None = None
    tokens: list[int]


class DetokenizeResponse(BaseModel):
    prompt: str

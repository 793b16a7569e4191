"""`/tokenize`, `/detokenize` and `/tokenizer_info` (llama-server's and vLLM's shapes; lm-evaluation-harness's
remote tokenizer reads them: ``tokenizer_info`` for ``eos_token``, ``/tokenize`` with ``prompt`` and
``add_special_tokens: false``, ``/detokenize`` with ``tokens``)."""

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
    return_token_strs: bool = False

    @model_validator(mode="after")
    def _one_input(self) -> TokenizeRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt or messages")
        return self


class TokenizeResponse(BaseModel):
    count: int
    max_model_len: int
    tokens: list[int]
    token_strs: list[str] | None = None


class DetokenizeRequest(Request):
    model: str | None = None
    tokens: list[int]


class DetokenizeResponse(BaseModel):
    prompt: str


class TokenizerInfoResponse(BaseModel):
    """vLLM's ``GET /tokenizer_info``: the tokenizer's configuration as its ``tokenizer_config.json``
    would give it (special tokens as text, None where the model has none)."""

    tokenizer_class: str
    bos_token: str | None
    eos_token: str | None
    pad_token: str | None
    add_bos_token: bool
    add_eos_token: bool
    model_max_length: int
    chat_template: str | None = None
    # -- extensions
    model: str
    vocab_size: int

"""Counting and inspecting tokens the way generation will see them (``/tokenize``, ``/detokenize``)."""

from __future__ import annotations

from deepfort.errors import InvalidRequestError
from deepfort.protocol import DetokenizeRequest, DetokenizeResponse, TokenizeRequest, TokenizeResponse
from deepfort.serving.context import ServingContext
from deepfort.serving.params import template_messages


class TokenizeService:
    def __init__(self, context: ServingContext) -> None:
        self.context = context

    def tokenize(self, request: TokenizeRequest) -> TokenizeResponse:
        served = self.context.pool.get(request.model)
        engine = served.engine
        if request.messages is not None:
            prompt = engine.render_chat(template_messages(request.messages))
        else:
            assert request.prompt is not None
            prompt = request.prompt
        tokens = engine.tokenize(prompt, add_special=request.add_special_tokens)
        return TokenizeResponse(count=len(tokens), max_model_len=engine.n_ctx, tokens=tokens)

    def detokenize(self, request: DetokenizeRequest) -> DetokenizeResponse:
        served = self.context.pool.get(request.model)
        engine = served.engine
        try:
            return DetokenizeResponse(prompt=engine.detokenize(request.tokens))
        except (IndexError, ValueError) as exc:
            raise InvalidRequestError(f"tokens are not valid for this model: {exc}", param="tokens") from exc

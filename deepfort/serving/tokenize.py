"""Counting and inspecting tokens the way generation will see them (``/tokenize``, ``/detokenize``,
``/tokenizer_info``)."""

from __future__ import annotations

from deepfort.errors import InvalidRequestError
from deepfort.protocol import (
    DetokenizeRequest,
    DetokenizeResponse,
    TokenizeRequest,
    TokenizeResponse,
    TokenizerInfoResponse,
)
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
        strs = [engine.detokenize([t]) for t in tokens] if request.return_token_strs else None
        return TokenizeResponse(count=len(tokens), max_model_len=engine.n_ctx, tokens=tokens, token_strs=strs)

    def detokenize(self, request: DetokenizeRequest) -> DetokenizeResponse:
        served = self.context.pool.get(request.model)
        engine = served.engine
        try:
            return DetokenizeResponse(prompt=engine.detokenize(request.tokens))
        except (IndexError, ValueError) as exc:
            raise InvalidRequestError(f"tokens are not valid for this model: {exc}", param="tokens") from exc

    def tokenizer_info(self, model: str | None) -> TokenizerInfoResponse:
        served = self.context.pool.get(model)
        info = served.engine.tokenizer_info()
        return TokenizerInfoResponse(
            tokenizer_class=info.tokenizer_class,
            bos_token=info.bos_token,
            eos_token=info.eos_token,
            pad_token=info.pad_token,
            add_bos_token=info.add_bos_token,
            add_eos_token=info.add_eos_token,
            model_max_length=served.engine.n_ctx,
            chat_template=info.chat_template,
            model=served.id,
            vocab_size=info.vocab_size,
        )

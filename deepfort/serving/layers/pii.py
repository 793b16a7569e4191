"""PII: the caller's policy on the way in. ``mask`` rewrites what the model sees (the moderation layer's
output filters give the client its own values back), ``block`` refuses, ``allow`` only counts."""

from __future__ import annotations

from typing import ClassVar

from deepfort.protocol import ChatCompletionRequest, CompletionRequest
from deepfort.serving.call import Call
from deepfort.serving.guarding import Guards
from deepfort.serving.layers.base import Layer


class PiiLayer(Layer):
    name: ClassVar[str] = "pii"

    def __init__(self, guards: Guards) -> None:
        self.guards = guards

    async def before(self, call: Call) -> None:
        policy = call.caller.key.pii_policy
        request = call.request
        if isinstance(request, ChatCompletionRequest):
            screened = self.guards.screen(request, policy)
            call.screened, call.request = screened, screened.request
            return
        assert isinstance(request, CompletionRequest)
        # Token-id prompts cannot be read, and are not screened.
        prompts = prompt_list(request.prompt)
        texts = self.guards.screen_texts([p for p in prompts if isinstance(p, str)], policy)
        call.screened = texts
        if texts.pii.mapping:
            masked = iter(texts.pii.texts)
            rewritten = [next(masked) if isinstance(p, str) else p for p in prompts]
            call.request = request.model_copy(update={"prompt": rewritten})


def prompt_list(prompt: str | list[str] | list[int] | list[list[int]]) -> list[str | list[int]]:
    """A text completion's prompts: one text, several texts, one token list or several."""
    if isinstance(prompt, str):
        return [prompt]
    if prompt and all(isinstance(p, int) for p in prompt):
        return [list(prompt)]  # type: ignore[arg-type]
    return list(prompt)  # type: ignore[arg-type]

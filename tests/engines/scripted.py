"""A scripted engine for in-process tests, registered through the real engine registry as ``scripted``:
a model config selects it with ``engine: scripted``.

As simonw/llm's ``MockModel.enqueue``: a test queues the text pieces the next request yields
(``engine.enqueue(["Hel", "lo"])``); a request with nothing queued answers :data:`DEFAULT`. Otherwise it
behaves as an engine must: the acceptance delta first, the prompt checked against the context, ``cancel``
and closing the stream honoured between pieces. A token is one character (``tokenize`` gives code
points), so ``max_tokens`` cuts a piece and usage counts characters. Stop strings, grammars and logprobs
are not applied (the capabilities say so).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Protocol

from deepfort.config import ServerSettings
from deepfort.engines.base import (
    EngineCapabilities,
    EngineDelta,
    EngineRequest,
    EngineStats,
    FinishReason,
    TokenizerInfo,
)
from deepfort.engines.registry import register_engine
from deepfort.errors import ContextLengthExceededError, InvalidRequestError

DEFAULT = ("Hello", " from", " the", " script", ".")


class _Config(Protocol):
    """What the engine reads of its model config."""

    @property
    def id(self) -> str: ...

    @property
    def n_ctx(self) -> int: ...

    @property
    def n_parallel(self) -> int: ...


class ScriptedEngine:
    capabilities = EngineCapabilities(logprobs=False, grammar=False)

    def __init__(self, config: _Config) -> None:
        self.model_id = config.id
        self.n_ctx = config.n_ctx
        self.requests: list[EngineRequest] = []
        """Every request accepted, in order."""
        self._scripts: deque[Sequence[str]] = deque()
        self._live: set[str] = set()
        self._cancelled: set[str] = set()
        self._stats = EngineStats(model=config.id, slots=config.n_parallel)

    def enqueue(self, pieces: Sequence[str]) -> None:
        """The text pieces the next request yields, one delta each."""
        self._scripts.append(pieces)

    def reset(self) -> None:
        """Forget queued scripts and recorded requests."""
        self._scripts.clear()
        self.requests.clear()

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def generate(self, request: EngineRequest) -> AsyncIterator[EngineDelta]:
        prompt = request.prompt if isinstance(request.prompt, list) else self.tokenize(request.prompt)
        if not prompt:
            raise InvalidRequestError("the prompt is empty", param="prompt")
        max_tokens = request.max_tokens if request.max_tokens is not None else self.n_ctx - len(prompt)
        if len(prompt) + max_tokens > self.n_ctx or max_tokens < 1:
            raise ContextLengthExceededError(
                f"This model's maximum context length is {self.n_ctx} tokens. However, you requested "
                f"{len(prompt) + max_tokens} tokens.",
                param="max_tokens",
            )
        script = self._scripts.popleft() if self._scripts else DEFAULT
        self.requests.append(request)
        self._stats.requests_total += 1
        self._stats.prompt_tokens_total += len(prompt)
        self._live.add(request.request_id)
        try:
            async for delta in self._play(request.request_id, script, len(prompt), max_tokens):
                yield delta
        finally:
            self._live.discard(request.request_id)
            self._cancelled.discard(request.request_id)

    async def _play(
        self, request_id: str, script: Sequence[str], n_prompt: int, max_tokens: int
    ) -> AsyncIterator[EngineDelta]:
        yield EngineDelta(prompt_tokens=n_prompt)
        generated = 0
        pieces = list(script) or [""]
        for i, piece in enumerate(pieces):
            await asyncio.sleep(0)  # between pieces, as between decode steps, a cancel takes effect
            if request_id in self._cancelled:
                self._stats.cancelled_total += 1
                yield EngineDelta(
                    finish_reason="cancelled", prompt_tokens=n_prompt, completion_tokens=generated
                )
                return
            text = piece[: max_tokens - generated]
            generated += len(text)
            finish: FinishReason | None = None
            if generated >= max_tokens:  # as a model cut off before its end-of-generation token
                finish = "length"
            elif i == len(pieces) - 1:
                finish = "stop"
            self._stats.generated_tokens_total += len(text)
            if finish is not None:
                self._stats.finished_total += 1
            yield EngineDelta(
                text=text,
                token_ids=self.tokenize(text),
                finish_reason=finish,
                prompt_tokens=n_prompt,
                completion_tokens=generated,
            )
            if finish is not None:
                return

    def cancel(self, request_id: str) -> None:
        if request_id in self._live:
            self._cancelled.add(request_id)

    def tokenize(self, text: str, *, add_special: bool = True) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, tokens: Sequence[int]) -> str:
        return "".join(chr(t) for t in tokens)

    def tokenizer_info(self) -> TokenizerInfo:
        return TokenizerInfo(
            tokenizer_class="characters",
            bos_token=None,
            eos_token=None,
            pad_token=None,
            add_bos_token=False,
            add_eos_token=False,
            vocab_size=0x110000,
            chat_template=None,
        )

    def render_chat(
        self, messages: Sequence[dict[str, object]], *, add_generation_prompt: bool = True
    ) -> str:
        text = "".join(f"<|{m['role']}|>{m.get('content') or ''}\n" for m in messages)
        return text + ("<|assistant|>" if add_generation_prompt else "")

    def stats(self) -> EngineStats:
        return replace(self._stats, running=len(self._live))

    def describe(self) -> dict[str, object]:
        return {"engine": "scripted", "n_ctx": self.n_ctx}


@register_engine("scripted")
def _create(config: _Config, server: ServerSettings) -> ScriptedEngine:
    return ScriptedEngine(config)

"""The llama.cpp engine: a GGUF model, its chat template and the decode loop, behind the Engine protocol."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Sequence

import psutil

from deepfort.config import LocalModel, LoraAdapter, ServerSettings, embedded_model_path
from deepfort.engines.base import (
    AdapterChoice,
    EngineCapabilities,
    EngineDelta,
    EngineRequest,
    EngineStats,
    TokenizerInfo,
)
from deepfort.engines.llamacpp.grammar import to_grammar
from deepfort.engines.llamacpp.model import LlamaModel
from deepfort.engines.llamacpp.planner import AdapterSet
from deepfort.engines.llamacpp.scheduler import Scheduler
from deepfort.engines.llamacpp.sequence import Seq
from deepfort.engines.llamacpp.template import CHATML_TEMPLATE, ChatTemplate
from deepfort.errors import (
    ConfigError,
    ContextLengthExceededError,
    EngineError,
    InvalidRequestError,
    ModelNotFoundError,
)


def kv_layout(model: LlamaModel, spec: LocalModel) -> tuple[int, bool]:
    """(cells, unified) for ``spec`` on this machine's available memory (:meth:`LocalModel.kv_layout`)."""
    return spec.kv_layout(model.kv_bytes_per_cell, psutil.virtual_memory().available)


class LlamaCppEngine:
    capabilities = EngineCapabilities(prompt_logprobs=True, lora=True)

    def __init__(self, config: LocalModel, server: ServerSettings) -> None:
        self.config = config
        self.server = server
        self.model_id = config.id
        self.n_ctx = config.n_ctx
        self.path = config.path if config.path is not None else embedded_model_path()
        self._model: LlamaModel | None = None
        self._scheduler: Scheduler | None = None
        self._template: ChatTemplate | None = None
        self._live: dict[str, Seq] = {}
        self._lora: dict[str, tuple[LoraAdapter, int]] = {}
        """Adapters served, by name: the spec and the scheduler's id for it."""

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        model = LlamaModel(self.path)
        cfg = self.config
        threads = cfg.n_threads or os.cpu_count() or 1
        self._template = ChatTemplate(
            cfg.chat_template or model.chat_template or CHATML_TEMPLATE,
            bos_token=model.special_text(model.bos),
            eos_token=model.special_text(model.eos),
        )
        kv_cells, unified = kv_layout(model, cfg)
        self._scheduler = Scheduler(
            model,
            model_id=cfg.id,
            n_ctx=cfg.n_ctx,
            n_parallel=cfg.slots,
            kv_cells=kv_cells,
            kv_unified=unified,
            prefill_chunk=cfg.prefill_chunk,
            n_batch=cfg.n_batch,
            n_threads=threads,
            n_threads_batch=cfg.n_threads_batch or threads,
            queue_size=cfg.queue_size if cfg.queue_size is not None else self.server.queue_size,
            retry_after_s=self.server.retry_after_s,
            prompt_cache_bytes=cfg.prompt_cache_mib * 1024**2,
        )
        self._model = model
        try:
            for adapter in cfg.lora:
                self._load_adapter(adapter)
        except BaseException:
            self._scheduler.stop()
            model.close()
            self._scheduler = self._model = None
            self._lora.clear()
            raise
        self._scheduler.start()

    def _load_adapter(self, adapter: LoraAdapter) -> None:
        _, scheduler = self._loaded()
        path = adapter.path.expanduser()
        if not path.is_file():
            raise ConfigError(f"model {self.model_id}: LoRA adapter {adapter.name}: no file at {path}")
        self._lora[adapter.name] = (adapter, scheduler.load_adapter(path))

    async def add_adapter(self, adapter: LoraAdapter) -> None:
        if adapter.name in self._lora:
            raise InvalidRequestError(
                f"model {self.model_id} already serves an adapter named {adapter.name!r}",
                param="name",
                code="adapter_exists",
            )
        await asyncio.to_thread(self._load_adapter, adapter)

    async def remove_adapter(self, name: str) -> None:
        _, scheduler = self._loaded()
        if name not in self._lora:
            raise ModelNotFoundError(f"model {self.model_id} has no adapter named {name!r}")
        _, uid = self._lora.pop(name)
        scheduler.unload_adapter(uid)

    def adapters(self) -> list[LoraAdapter]:
        return [adapter for adapter, _ in self._lora.values()]

    def _adapter_set(self, choices: Sequence[AdapterChoice]) -> AdapterSet:
        """The scheduler's adapter set for a request's choices (the last scale given for a name wins)."""
        chosen: dict[int, float] = {}
        for choice in choices:
            found = self._lora.get(choice.name)
            if found is None:
                known = ", ".join(self._lora) or "none"
                raise ModelNotFoundError(
                    f"model {self.model_id} has no LoRA adapter {choice.name!r} (adapters: {known})",
                    param="lora",
                )
            adapter, uid = found
            chosen[uid] = adapter.scale if choice.scale is None else choice.scale
        return tuple(sorted((uid, scale) for uid, scale in chosen.items() if scale != 0.0))

    async def close(self) -> None:
        if self._scheduler is not None:
            await asyncio.to_thread(self._scheduler.stop)
            self._scheduler = None
        if self._model is not None:
            self._model.close()
            self._model = None

    @property
    def ready(self) -> bool:
        return self._scheduler is not None

    def _loaded(self) -> tuple[LlamaModel, Scheduler]:
        if self._model is None or self._scheduler is None:
            raise EngineError(f"model {self.model_id} is not loaded")
        return self._model, self._scheduler

    # -- tokenizer and template -----------------------------------------------------------------------
    def tokenize(self, text: str, *, add_special: bool = True) -> list[int]:
        model, _ = self._loaded()
        return model.tokenize(text, add_special=add_special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        model, _ = self._loaded()
        bad = [t for t in tokens if not 0 <= t < model.n_vocab]
        if bad:
            raise InvalidRequestError(f"token id {bad[0]} is outside the vocabulary (0..{model.n_vocab - 1})")
        return model.detokenize(tokens)

    def tokenizer_info(self) -> TokenizerInfo:
        model, _ = self._loaded()
        assert self._template is not None

        def text(token: int) -> str | None:
            return model.special_text(token) if token >= 0 else None

        return TokenizerInfo(
            tokenizer_class=f"gguf-{model.metadata.get('tokenizer.ggml.model', 'unknown')}",
            bos_token=text(model.bos),
            eos_token=text(model.eos),
            pad_token=text(model.pad),
            add_bos_token=model.add_bos,
            add_eos_token=model.add_eos,
            vocab_size=model.n_vocab,
            chat_template=self._template.source,
        )

    def render_chat(
        self, messages: Sequence[dict[str, object]], *, add_generation_prompt: bool = True
    ) -> str:
        if self._template is None:
            raise EngineError(f"model {self.model_id} is not loaded")
        return self._template.render(messages, add_generation_prompt=add_generation_prompt)

    def cancel(self, request_id: str) -> None:
        seq = self._live.get(request_id)
        if seq is not None and self._scheduler is not None:
            self._scheduler.cancel(seq)

    def stats(self) -> EngineStats:
        _, scheduler = self._loaded()
        return scheduler.stats()

    def describe(self) -> dict[str, object]:
        info: dict[str, object] = {
            "path": str(self.path),
            "n_ctx": self.n_ctx,
            "n_parallel": self.config.slots,
            "lora": [a.model_dump(mode="json") for a in self.adapters()],
        }
        if self._scheduler is not None:
            info.update(kv_cells=self._scheduler.kv_cells, kv_unified=self._scheduler.unified)
        if self._model is not None:
            m = self._model
            info.update(
                description=m.description,
                n_params=m.n_params,
                size_bytes=m.size_bytes,
                n_ctx_train=m.n_ctx_train,
                n_vocab=m.n_vocab,
                architecture=m.metadata.get("general.architecture"),
                name=m.metadata.get("general.name"),
            )
        return info

    # -- generation ---------------------------------------------------------------------------------------
    def _prompt_tokens(self, model: LlamaModel, request: EngineRequest) -> list[int]:
        if isinstance(request.prompt, list):
            bad = [t for t in request.prompt if not 0 <= t < model.n_vocab]
            if bad:
                raise InvalidRequestError(f"token id {bad[0]} is outside the vocabulary", param="prompt")
            return list(request.prompt)
        bos_text = model.special_text(model.bos)
        add_special = request.add_special and not (bos_text and request.prompt.startswith(bos_text))
        return model.tokenize(request.prompt, add_special=add_special)

    async def generate(self, request: EngineRequest) -> AsyncIterator[EngineDelta]:
        model, scheduler = self._loaded()
        adapters = self._adapter_set(request.lora)
        prompt = self._prompt_tokens(model, request)
        if not prompt:
            raise InvalidRequestError("the prompt is empty", param="prompt")
        limit = min(self.n_ctx, scheduler.context_cells)
        room = limit - len(prompt)
        max_tokens = request.max_tokens if request.max_tokens is not None else room
        if len(prompt) + max_tokens > limit or (request.max_tokens is None and room < 1):
            raise ContextLengthExceededError(
                f"This model's maximum context length is {limit} tokens. However, you requested "
                f"{len(prompt) + max_tokens} tokens ({len(prompt)} in the prompt, {max_tokens} for the "
                "completion). Please reduce the length of the prompt or max_tokens.",
                param="max_tokens" if len(prompt) < limit else "messages",
            )
        grammar = to_grammar(request.structured) if request.structured is not None else None
        thinking_end: list[int] = []
        if request.thinking is not None:
            thinking_end = model.tokenize("\n" + request.thinking.end_tag + "\n\n", add_special=False)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[EngineDelta | BaseException] = asyncio.Queue()

        def emit(item: EngineDelta | BaseException) -> None:
            # At shutdown the event loop may already be closed: nobody is listening any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, item)

        seq = Seq(
            request=request,
            prompt=prompt,
            max_tokens=max_tokens,
            emit=emit,
            grammar=grammar,
            thinking_end=thinking_end,
            adapters=adapters,
        )
        scheduler.submit(seq)
        self._live[request.request_id] = seq
        try:
            yield EngineDelta(prompt_tokens=len(prompt))
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            self._live.pop(request.request_id, None)
            scheduler.cancel(seq)

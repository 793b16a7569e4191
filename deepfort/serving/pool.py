"""The models this server answers for, each with its engine and reasoning parser, and the LoRA adapters
served on them: an adapter is asked for as the model id ``base:adapter`` (vLLM's multi-LoRA, where each
adapter is a model of its own in ``/v1/models``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from deepfort.config import LocalModel, LoraAdapter, ServerSettings
from deepfort.engines.base import AdapterChoice, Engine, LoraEngine
from deepfort.engines.registry import create_engine
from deepfort.errors import ConfigError, InvalidRequestError, ModelNotFoundError, ModelNotReadyError
from deepfort.protocol import LoraRef
from deepfort.reasoning import ReasoningParser, UnknownReasoningParserError, get_parser


@dataclass
class ServedModel:
    """A local model's spec with what serving it takes: its engine and reasoning parser."""

    spec: LocalModel
    engine: Engine
    parser: type[ReasoningParser] | None
    created: int = field(default_factory=lambda: int(time.time()))
    ready: bool = False

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def adapters(self) -> list[LoraAdapter]:
        """The LoRA adapters served on this model now."""
        engine = self.engine
        if self.ready and engine.capabilities.lora and isinstance(engine, LoraEngine):
            return engine.adapters()
        return []

    def adapter_id(self, adapter: str) -> str:
        """The model id that asks for ``adapter`` on this model."""
        return f"{self.id}{ADAPTER_SEPARATOR}{adapter}"

    @property
    def names(self) -> list[str]:
        """Every model id this model answers: its own and aliases, then one per adapter."""
        return [*self.spec.names, *(self.adapter_id(a.name) for a in self.adapters)]

    def lora_engine(self) -> LoraEngine:
        """The engine, as one that serves adapters; a client error when it does not."""
        engine = self.engine
        if not (engine.capabilities.lora and isinstance(engine, LoraEngine)):
            raise InvalidRequestError(
                f"model {self.id} (engine `{self.spec.engine}`) does not serve LoRA adapters", param="lora"
            )
        return engine

    def adapter_choices(self, adapter: str | None, refs: list[LoraRef] | None) -> tuple[AdapterChoice, ...]:
        """The adapters a request runs with: the one its model id names (``base:adapter``) and those its
        ``lora`` field lists (by name, or by position in this model's list as llama-server numbers them)."""
        if adapter is None and not refs:
            return ()
        listed = self.lora_engine().adapters()
        choices = [AdapterChoice(adapter)] if adapter is not None else []
        for ref in refs or []:
            if ref.id is not None and ref.id >= len(listed):
                raise InvalidRequestError(
                    f"lora id {ref.id} does not exist: model {self.id} serves {len(listed)} adapters",
                    param="lora",
                )
            name = listed[ref.id].name if ref.id is not None else ref.name
            assert name is not None
            choices.append(AdapterChoice(name, ref.scale))
        return tuple(choices)


ADAPTER_SEPARATOR = ":"
"""Between a model's name and an adapter's in a model id (``smollm2-135m:faq``)."""


class ModelPool:
    def __init__(self, models: list[LocalModel], server: ServerSettings) -> None:
        if not models:
            raise ConfigError("no models to serve")
        self._models: list[ServedModel] = []
        self._by_name: dict[str, ServedModel] = {}
        self._server = server
        for spec in models:
            self._register(spec)

    def _register(self, spec: LocalModel) -> ServedModel:
        taken = [name for name in spec.names if name in self._by_name]
        if taken:
            raise ConfigError(f"model name {taken[0]!r} is served already")
        parser: type[ReasoningParser] | None = None
        if spec.reasoning_parser:
            try:
                parser = get_parser(spec.reasoning_parser)
            except UnknownReasoningParserError as exc:
                raise ConfigError(f"model {spec.id}: {exc}") from None
        served = ServedModel(spec=spec, engine=create_engine(spec.engine, spec, self._server), parser=parser)
        self._models.append(served)
        for name in spec.names:
            self._by_name[name] = served
        return served

    async def add(self, spec: LocalModel) -> ServedModel:
        """Serve one more model while running (``POST /admin/models``); it answers once loaded."""
        served = self._register(spec)
        try:
            await served.engine.start()
        except BaseException:
            self._models.remove(served)
            for name in spec.names:
                self._by_name.pop(name, None)
            raise
        served.ready = True
        return served

    async def start(self) -> None:
        for served in self._models:
            await served.engine.start()
            served.ready = True

    async def close(self) -> None:
        for served in self._models:
            served.ready = False
            await served.engine.close()

    @property
    def default(self) -> ServedModel:
        return self._models[0]

    @property
    def ready(self) -> bool:
        return all(m.ready for m in self._models)

    def __iter__(self) -> Iterator[ServedModel]:
        return iter(self._models)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def _find(self, name: str) -> tuple[ServedModel, str | None] | None:
        served = self._by_name.get(name)
        if served is not None:
            return served, None
        base, sep, adapter = name.rpartition(ADAPTER_SEPARATOR)
        served = self._by_name.get(base) if sep else None
        if served is not None and any(a.name == adapter for a in served.adapters):
            return served, adapter
        return None

    def lookup(self, name: str | None) -> tuple[ServedModel, str | None]:
        """The model ``name`` asks for, and the adapter when it names one (``base:adapter``)."""
        if name is None:
            name = self.default.id
        found = self._find(name)
        if found is None:
            known = ", ".join(
                n for m in self._models for n in [m.id, *(m.adapter_id(a.name) for a in m.adapters)]
            )
            raise ModelNotFoundError(
                f"The model `{name}` does not exist. Served models: {known}", param="model"
            )
        served = found[0]
        if not served.ready:
            raise ModelNotReadyError(f"model {served.id} is still loading", retry_after=1)
        return found

    def get(self, name: str | None) -> ServedModel:
        """The model ``name`` asks for (the base model of ``base:adapter``)."""
        return self.lookup(name)[0]

"""The models this server answers for, each with its engine and reasoning parser."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from deepfort.config import LocalModel, ServerSettings
from deepfort.engines.base import Engine
from deepfort.engines.registry import create_engine
from deepfort.errors import ConfigError, ModelNotFoundError, ModelNotReadyError
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
        return name in self._by_name

    def get(self, name: str | None) -> ServedModel:
        if name is None:
            name = self.default.id
        try:
            served = self._by_name[name]
        except KeyError:
            known = ", ".join(m.id for m in self._models)
            raise ModelNotFoundError(
                f"The model `{name}` does not exist. Served models: {known}", param="model"
            ) from None
        if not served.ready:
            raise ModelNotReadyError(f"model {served.id} is still loading", retry_after=1)
        return served

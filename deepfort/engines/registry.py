"""Engines registered by name; ``create_engine`` builds one for a model config."""

from __future__ import annotations

from collections.abc import Callable

from deepfort.config import ModelConfig, ServerSettings
from deepfort.engines.base import Engine
from deepfort.errors import ConfigError

EngineFactory = Callable[[ModelConfig, ServerSettings], Engine]

_FACTORIES: dict[str, EngineFactory] = {}


def register_engine(name: str) -> Callable[[EngineFactory], EngineFactory]:
    def decorate(factory: EngineFactory) -> EngineFactory:
        _FACTORIES[name] = factory
        return factory

    return decorate


def engine_names() -> list[str]:
    _load_builtin()
    return sorted(_FACTORIES)


def create_engine(name: str, model: ModelConfig, server: ServerSettings) -> Engine:
    _load_builtin()
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown engine {name!r}; known engines: {', '.join(sorted(_FACTORIES))}"
        ) from None
    return factory(model, server)


def _load_builtin() -> None:
    # Imported lazily so that `deepfort --help` does not load llama.cpp.
    import deepfort.engines.llamacpp  # noqa: F401

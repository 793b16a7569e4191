"""Engines by name; ``create_engine`` builds the one a local model names (``LocalModel.engine``).

``llamacpp`` is built in. An installed package adds an engine through the entry point group
``deepfort.engines``, naming an :data:`EngineFactory` (see :mod:`deepfort.registry`); a test or an embedding
program may also call ``ENGINES.register(name, factory)``.
"""

from __future__ import annotations

from collections.abc import Callable

from deepfort.config import LocalModel, ServerSettings
from deepfort.engines.base import Engine
from deepfort.errors import UnknownNameError
from deepfort.registry import Registry

__all__ = [
    "ENGINES",
    "EngineFactory",
    "UnknownEngineError",
    "create_engine",
    "engine_names",
    "register_engine",
]

EngineFactory = Callable[[LocalModel, ServerSettings], Engine]
"""Builds the engine for one local model (the server settings give thread and batch limits)."""


class UnknownEngineError(UnknownNameError):
    """No engine is registered under a model's ``engine`` name."""

    default_kind = "engine"


def _llamacpp(model: LocalModel, server: ServerSettings) -> Engine:
    # Imported on first use, so that `deepfort --help` does not load llama.cpp.
    from deepfort.engines.llamacpp import LlamaCppEngine

    return LlamaCppEngine(model, server)


ENGINES: Registry[EngineFactory] = Registry("engine", group="deepfort.engines", error=UnknownEngineError)
ENGINES.register("llamacpp", _llamacpp)


def register_engine(name: str) -> Callable[[EngineFactory], EngineFactory]:
    """Decorator: register an engine factory under ``name``."""

    def decorate(factory: EngineFactory) -> EngineFactory:
        return ENGINES.register(name, factory)

    return decorate


def engine_names() -> list[str]:
    return ENGINES.names()


def create_engine(name: str, model: LocalModel, server: ServerSettings) -> Engine:
    """Build the engine registered under ``name`` for ``model``; :class:`UnknownEngineError` if none."""
    return ENGINES.get(name)(model, server)

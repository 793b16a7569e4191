"""Named members of one kind: engines, reasoning parsers, workflow node types, image backends.

A :class:`Registry` maps names to members (a factory, a class). Built-in members are registered in code,
by the package that owns the kind; an installed package adds its own through a Python entry point group
(simonw/llm's plugins work the same way), declared in its ``pyproject.toml``::

    [project.entry-points."deepfort.engines"]
    mlx = "deepfort_mlx:create_engine"

The entry point's name is the member's name and the object it points at is the member. Entry points are
read once, on the first lookup, so importing a registry costs nothing and a package installed before the
process started is found. A lookup of a name nothing is registered under raises the registry's
:class:`~deepfort.errors.UnknownNameError`, which lists the known names.

    group                         member
    deepfort.engines              EngineFactory: (LocalModel, ServerSettings) -> Engine
    deepfort.reasoning_parsers    a ReasoningParser subclass
    deepfort.workflow_nodes       a Node subclass: its constructor takes the MediaServices
    deepfort.image_backends       ImageBackendFactory: () -> ImageBackend
    deepfort.eval_suites          a Suite subclass (deepfort.evals.base)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from typing import Generic, TypeVar

from deepfort.errors import ConfigError, UnknownNameError

__all__ = ["DuplicateNameError", "Registry"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class DuplicateNameError(ValueError):
    """A second, different member registered in code under a taken name: a programming error."""


class Registry(Generic[T]):
    """Members of one ``kind`` by name; see the module docstring.

    ``group`` is the entry point group read on the first lookup (None: code only). ``builtins``, when
    given, is called once before that, for built-in members whose modules are too costly to import
    before one is needed. ``error`` is raised for an unknown name.
    """

    def __init__(
        self,
        kind: str,
        *,
        group: str | None = None,
        builtins: Callable[[], Iterable[tuple[str, T]]] | None = None,
        error: type[UnknownNameError] = UnknownNameError,
    ) -> None:
        self.kind = kind
        self.group = group
        self._builtins = builtins
        self._error = error
        self._members: dict[str, T] = {}
        self._loaded = group is None and builtins is None

    def register(self, name: str, member: T) -> T:
        """Register ``member`` under ``name`` and return it. Registering the same member again is a no-op;
        a different one under a taken name raises :class:`DuplicateNameError`."""
        existing = self._members.get(name)
        if existing is not None and existing is not member:
            raise DuplicateNameError(f"{self.kind} {name!r} is already registered ({_describe(existing)})")
        self._members[name] = member
        return member

    def get(self, name: str) -> T:
        """The member registered under ``name``; raises the registry's ``error`` (listing the known names)."""
        self._load()
        try:
            return self._members[name]
        except KeyError:
            raise self._error(name, self._members, kind=self.kind) from None

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._load()
        return sorted(self._members)

    def items(self) -> list[tuple[str, T]]:
        """Every (name, member), sorted by name."""
        self._load()
        return sorted(self._members.items(), key=lambda item: item[0])

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._members

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._members)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, group={self.group!r})"

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # set first: a member's module may look the registry up while it loads
        try:
            if self._builtins is not None:
                for name, member in self._builtins():
                    self.register(name, member)
            if self.group is not None:
                for entry_point in metadata.entry_points(group=self.group):
                    self._add_entry_point(entry_point)
        except BaseException:
            self._loaded = False
            raise

    def _add_entry_point(self, entry_point: metadata.EntryPoint) -> None:
        source = f"entry point {entry_point.name} = {entry_point.value}"
        if entry_point.dist is not None:
            source += f" of {entry_point.dist.name} {entry_point.dist.version}"
        try:
            member = entry_point.load()
        except Exception as exc:  # a broken plugin is a deployment problem: say which one, keep the cause
            raise ConfigError(f"{self.kind} {source} failed to load: {exc}") from exc
        existing = self._members.get(entry_point.name)
        if existing is not None and existing is not member:
            raise ConfigError(f"{self.kind} {source} takes a name already registered ({_describe(existing)})")
        self._members[entry_point.name] = member
        log.debug("%s %r registered from %s", self.kind, entry_point.name, source)


def _describe(member: object) -> str:
    name = getattr(member, "__qualname__", None) or type(member).__qualname__
    module = getattr(member, "__module__", None) or type(member).__module__
    return f"{module}.{name}"

"""Node types by name. `default_registry()` builds a registry with the built-in nodes; tests and plugins
register their own classes on a registry they own (no module-level state)."""

from __future__ import annotations

from collections.abc import Iterable

from deepfort.aigc.workflow.nodes.base import Node, NodeContext, NodeResult, Param
from deepfort.errors import ConfigError


class UnknownNodeTypeError(ConfigError):
    """A node type name no class is registered under; the message lists the known ones."""


class NodeRegistry:
    def __init__(self, classes: Iterable[type[Node]] = ()) -> None:
        self._classes: dict[str, type[Node]] = {}
        for cls in classes:
            self.register(cls)

    def register(self, cls: type[Node]) -> type[Node]:
        """Register a node class under its `type_name` (usable as a decorator)."""
        self._classes[cls.type_name] = cls
        return cls

    def known(self) -> list[str]:
        return sorted(self._classes)

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def get(self, name: str) -> type[Node]:
        try:
            return self._classes[name]
        except KeyError:
            raise UnknownNodeTypeError(
                f"unknown node type {name!r} (known: {', '.join(self.known())})"
            ) from None


def default_registry() -> NodeRegistry:
    from deepfort.aigc.workflow.nodes.condition import ConditionNode
    from deepfort.aigc.workflow.nodes.iterate import IterateNode
    from deepfort.aigc.workflow.nodes.template import TemplateNode

    return NodeRegistry([TemplateNode, ConditionNode, IterateNode])


__all__ = [
    "Node",
    "NodeContext",
    "NodeRegistry",
    "NodeResult",
    "Param",
    "UnknownNodeTypeError",
    "default_registry",
]

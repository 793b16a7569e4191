"""Node types by name.

:data:`NODE_TYPES` holds every node type of the process: the built-in ones and those of installed packages
(entry point group ``deepfort.workflow_nodes``, a :class:`Node` subclass each, named by its
``type_name``). A :class:`NodeRegistry` is what one executor uses: the node types it knows (a copy, to which
a test adds its own) and the services it builds their nodes with.
"""

from __future__ import annotations

from collections.abc import Iterable

from deepfort.aigc.workflow.nodes.base import Node
from deepfort.aigc.workflow.nodes.services import MediaServices
from deepfort.errors import ConfigError, UnknownNameError
from deepfort.registry import Registry


class UnknownNodeTypeError(UnknownNameError):
    """A node type name no class is registered under; the message lists the known ones."""

    default_kind = "node type"


def _builtin() -> list[tuple[str, type[Node]]]:
    # Imported on first use: the media nodes bring httpx, the video and TTS helpers.
    from deepfort.aigc.workflow.nodes.condition import ConditionNode
    from deepfort.aigc.workflow.nodes.http import HttpNode
    from deepfort.aigc.workflow.nodes.image import ImageNode
    from deepfort.aigc.workflow.nodes.iterate import IterateNode
    from deepfort.aigc.workflow.nodes.llm import LlmNode
    from deepfort.aigc.workflow.nodes.storyboard import StoryboardNode
    from deepfort.aigc.workflow.nodes.template import TemplateNode
    from deepfort.aigc.workflow.nodes.tts import TtsNode
    from deepfort.aigc.workflow.nodes.video import VideoNode

    classes: list[type[Node]] = [
        TemplateNode,
        ConditionNode,
        IterateNode,
        LlmNode,
        StoryboardNode,
        HttpNode,
        ImageNode,
        TtsNode,
        VideoNode,
    ]
    return [(cls.type_name, cls) for cls in classes]


NODE_TYPES: Registry[type[Node]] = Registry(
    "node type", group="deepfort.workflow_nodes", builtins=_builtin, error=UnknownNodeTypeError
)


class NodeRegistry:
    """The node types one executor knows, and the `services` it builds their nodes with (``cls(services)``;
    None: documents can be checked, but a media node fails when it runs)."""

    def __init__(self, classes: Iterable[type[Node]] = (), services: MediaServices | None = None) -> None:
        self._types: Registry[type[Node]] = Registry("node type", error=UnknownNodeTypeError)
        self.services = services
        for cls in classes:
            self.register(cls)

    def register(self, cls: type[Node]) -> type[Node]:
        """Register a node class under its `type_name` (usable as a decorator)."""
        return self._types.register(cls.type_name, cls)

    def known(self) -> list[str]:
        return self._types.names()

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def get(self, name: str) -> type[Node]:
        """The class registered under `name`; :class:`UnknownNodeTypeError` if none."""
        return self._types.get(name)

    def create(self, name: str) -> Node:
        """A node of type `name`, built with this registry's services."""
        return self.get(name)(self.services)


def default_registry(services: MediaServices | None = None) -> NodeRegistry:
    """Every node type in :data:`NODE_TYPES`, built with `services`."""
    registry = NodeRegistry(services=services)
    for name, cls in NODE_TYPES.items():
        if name != getattr(cls, "type_name", None):
            raise ConfigError(
                f"node type {name!r} is registered with a class whose type_name differs: {cls!r}"
            )
        registry.register(cls)
    return registry

"""Node types by name (see :mod:`.registry`). `default_registry(services)` builds a registry with every
installed node type; tests register their own classes on a registry they own."""

from __future__ import annotations

from deepfort.aigc.workflow.nodes.base import Node, NodeContext, NodeResult, Param
from deepfort.aigc.workflow.nodes.registry import (
    NODE_TYPES,
    NodeRegistry,
    UnknownNodeTypeError,
    default_registry,
)
from deepfort.aigc.workflow.nodes.services import MediaServices

__all__ = [
    "NODE_TYPES",
    "MediaServices",
    "Node",
    "NodeContext",
    "NodeRegistry",
    "NodeResult",
    "Param",
    "UnknownNodeTypeError",
    "default_registry",
]

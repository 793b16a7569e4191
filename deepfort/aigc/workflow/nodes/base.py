"""The node contract: one class per node type, registered by name.

A node class declares a small schema (param names and types, output fields and types) that the DSL loader
checks references against, and an async `run` that receives rendered params and returns a `NodeResult`.
The class is also the node's factory: the executor builds one node per run of it as `cls(services)`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from deepfort.aigc.workflow.spec import NodeSpec, SubGraph, ValueType

if TYPE_CHECKING:
    from deepfort.aigc.workflow.nodes.services import MediaServices


@dataclass(frozen=True)
class Param:
    type: ValueType = "any"
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class NodeResult:
    """A node's output fields, the tokens it spent, and the successors it switched off (a condition's
    branch not taken)."""

    outputs: Mapping[str, Any]
    tokens: int = 0
    skip: frozenset[str] = field(default_factory=frozenset)


class BodyFailedError(Exception):
    """A sub-graph run (one iterate item) failed: `node_id` is the body node that aborted it."""

    def __init__(self, node_id: str, error: str) -> None:
        super().__init__(f"node {node_id} failed: {error}")
        self.node_id = node_id
        self.error = error


class NodeContext(Protocol):
    """What the executor offers a running node."""

    @property
    def run_id(self) -> str: ...

    @property
    def node_id(self) -> str: ...

    def progress(self, value: float, maximum: float) -> None:
        """Emit a node_progress event."""

    def render(self, template: str, extra: Mapping[str, Any] | None = None) -> Any:
        """Render a template string in the node's scope (inputs, upstream nodes, item/index), plus `extra`."""

    def evaluate(self, expression: str, extra: Mapping[str, Any] | None = None) -> Any:
        """Evaluate a bare sandboxed expression in the node's scope, plus `extra`."""

    async def run_body(self, body: SubGraph, item: Any, index: int) -> Mapping[str, Any]:
        """Run a sub-graph for one item; returns the body nodes' outputs or raises `BodyFailedError`."""


class Node(ABC):
    """Base of every node type. Subclasses set `type_name` and their schema, and implement `run`.

    The constructor takes the services of the registry the node type is looked up in (None in a registry
    that only validates documents, or in tests); a subclass that overrides it keeps that signature.
    """

    type_name: ClassVar[str]
    heavy: ClassVar[bool] = False
    """Uses the executor's separate bound for heavy work (image, video)."""
    control: ClassVar[bool] = False
    """Takes no concurrency slot: it only steers other nodes (and may wait on them, like `iterate`)."""
    params_schema: ClassVar[Mapping[str, Param]] = {}
    outputs_schema: ClassVar[Mapping[str, ValueType] | None] = None
    """Declared output fields; None means undeclared (references to any field are accepted)."""
    raw_params: ClassVar[frozenset[str]] = frozenset()
    """Params passed to `run` as written, not rendered first."""
    expression_params: ClassVar[frozenset[str]] = frozenset()
    """Params that hold a bare expression rather than a template."""
    subgraph_params: ClassVar[frozenset[str]] = frozenset()
    """Params that hold a nested `{nodes, edges}` sub-graph, parsed into a `SubGraph`."""
    body_scoped_params: ClassVar[frozenset[str]] = frozenset()
    """Params whose references are read inside the node's sub-graph; `check` validates them."""
    node_ref_params: ClassVar[frozenset[str]] = frozenset()
    """Params that name sibling node ids; each implies an edge from this node to the named one."""

    def __init__(self, services: MediaServices | None = None) -> None:
        self.services = services

    @classmethod
    def check(cls, spec: NodeSpec) -> list[str]:
        """Extra load-time problems with a spec (reasons, without the line and id)."""
        return []

    @abstractmethod
    async def run(self, params: Mapping[str, Any], ctx: NodeContext) -> NodeResult: ...

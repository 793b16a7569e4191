"""The parsed workflow model: frozen values the DSL loader builds and the executor reads.

A `WorkflowVersion` is what runs: the workflow plus the sha256 of its canonical JSON. It is immutable, so a
run keeps the version it started with even when a newer one is published.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ValueType = Literal["string", "number", "integer", "boolean", "list", "object", "any"]
VALUE_TYPES: tuple[ValueType, ...] = ("string", "number", "integer", "boolean", "list", "object", "any")


def value_matches(value: object, expected: ValueType) -> bool:
    """Whether a concrete value fits a declared type (bool is not a number; an integer is)."""
    if expected == "any":
        return True
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "list":
        return isinstance(value, list)
    return isinstance(value, dict)


def types_compatible(produced: ValueType, expected: ValueType) -> bool:
    """Whether a value declared as `produced` may feed a slot declared as `expected`."""
    if "any" in (produced, expected) or produced == expected:
        return True
    return produced == "integer" and expected == "number"


@dataclass(frozen=True)
class RetryPolicy:
    """`max` extra attempts after the first; the wait before retry n is `backoff * 2**(n-1)` seconds."""

    max: int = 0
    backoff: float = 0.0


@dataclass(frozen=True)
class OnError:
    """What a node's final failure does: `abort` the run (the default), `continue` with `default` as the
    node's output, or `fail_branch`: run `target` instead of the node's ordinary successors."""

    strategy: Literal["abort", "continue", "fail_branch"] = "abort"
    default: Any = None
    target: str | None = None


@dataclass(frozen=True)
class NodeSpec:
    id: str
    type: str
    params: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    retry: RetryPolicy = RetryPolicy()
    on_error: OnError = OnError()
    line: int = 0


@dataclass(frozen=True)
class Edge:
    source: str
    target: str


@dataclass(frozen=True)
class SubGraph:
    """Nodes and edges run as a unit (the body of an `iterate` node)."""

    nodes: tuple[NodeSpec, ...]
    edges: tuple[Edge, ...]

    def node(self, node_id: str) -> NodeSpec:
        return next(spec for spec in self.nodes if spec.id == node_id)


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: ValueType = "any"
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class Workflow:
    name: str
    version: int
    inputs: Mapping[str, InputSpec]
    graph: SubGraph
    outputs: Mapping[str, str]
    source: Mapping[str, Any]
    """The parsed document as written (plain JSON values), the basis of the content hash."""


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class WorkflowVersion:
    """A published, immutable workflow version identified by the sha256 of its canonical JSON."""

    workflow: Workflow
    digest: str

    @classmethod
    def publish(cls, workflow: Workflow) -> WorkflowVersion:
        digest = hashlib.sha256(canonical_json(workflow.source).encode()).hexdigest()
        return cls(workflow=workflow, digest=digest)

    @property
    def canonical(self) -> str:
        return canonical_json(self.workflow.source)

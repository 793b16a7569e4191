"""Typed run events. Every event carries `type`, `run_id` and `seq` (strictly increasing within a run).

Order contract: `run_started` first, `run_finished` last; every `node_started` (one per attempt) is followed
by exactly one terminal event for that attempt, `node_finished` or `node_failed` (with `will_retry` when
another attempt follows). A node that never starts because its branch was not taken gets `node_skipped`.
Nodes inside an iterate body are named `<iterate id>[<index>].<body node id>`.

A run resumed after a crash continues the same sequence: the interrupted attempts are closed with
`node_failed` (`interrupted: true`), then `run_resumed` lists the nodes whose outputs were kept, and the
rest runs again up to one `run_finished`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

RunStatus = Literal["succeeded", "failed", "cancelled", "timed_out"]


@dataclass(frozen=True, kw_only=True)
class Event:
    run_id: str
    seq: int = 0
    type: str = field(default="event", init=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    workflow: str
    version: int
    digest: str
    inputs: dict[str, Any]
    type: str = field(default="run_started", init=False)


@dataclass(frozen=True, kw_only=True)
class RunResumed(Event):
    """The run goes on after a crash: `restored` nodes keep their outputs and do not run again."""

    restored: list[str]
    resumes: int
    type: str = field(default="run_resumed", init=False)


@dataclass(frozen=True, kw_only=True)
class NodeStarted(Event):
    node_id: str
    node_type: str
    attempt: int
    type: str = field(default="node_started", init=False)


@dataclass(frozen=True, kw_only=True)
class NodeProgress(Event):
    node_id: str
    value: float
    max: float
    type: str = field(default="node_progress", init=False)


@dataclass(frozen=True, kw_only=True)
class NodeOutput(Event):
    """`skip` names the successors the node switched off (a condition's branch not taken)."""

    node_id: str
    output: dict[str, Any]
    skip: list[str] = field(default_factory=list)
    type: str = field(default="node_output", init=False)


@dataclass(frozen=True, kw_only=True)
class NodeFinished(Event):
    node_id: str
    duration_s: float
    tokens: int
    type: str = field(default="node_finished", init=False)


@dataclass(frozen=True, kw_only=True)
class NodeFailed(Event):
    """`recovery` says what the final failure led to: `abort`, `continue` (the node's default became its
    output) or `fail_branch`; None while `will_retry`. `cancelled` marks a node stopped by cancellation,
    the run deadline or an abort elsewhere; `interrupted` one that a crash stopped (written on recovery)."""

    node_id: str
    error: str
    attempt: int
    will_retry: bool
    cancelled: bool = False
    interrupted: bool = False
    recovery: str | None = None
    type: str = field(default="node_failed", init=False)


@dataclass(frozen=True, kw_only=True)
class NodeSkipped(Event):
    node_id: str
    reason: str
    type: str = field(default="node_skipped", init=False)


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    status: RunStatus
    outputs: dict[str, Any]
    error: str | None = None
    type: str = field(default="run_finished", init=False)


TERMINAL_NODE_EVENTS = (NodeFinished, NodeFailed)


class RunListener(Protocol):
    """Observes a run's events in order (persistence, metrics). Called synchronously as each event is
    emitted, so it must be quick; slow sinks queue the event and do the work elsewhere."""

    def __call__(self, event: Event) -> None: ...

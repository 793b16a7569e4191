"""A scripted node for executor tests, registered through the real registry: each run of `script` with a
given `key` can be told to fail a number of times, to wait on a gate the test opens, or to hang."""

from __future__ import annotations

import asyncio
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from deepfort.aigc.workflow import default_registry, load_workflow
from deepfort.aigc.workflow.events import (
    Event,
    NodeFailed,
    NodeFinished,
    NodeSkipped,
    NodeStarted,
    RunFinished,
    RunStarted,
)
from deepfort.aigc.workflow.executor import Executor, RunResult
from deepfort.aigc.workflow.nodes import NodeRegistry
from deepfort.aigc.workflow.nodes.base import Node, NodeContext, NodeResult, Param
from deepfort.aigc.workflow.spec import WorkflowVersion


class Script:
    def __init__(self) -> None:
        self.failures: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.gates: dict[str, asyncio.Event] = {}
        self.started: dict[str, asyncio.Event] = {}
        self.cancelled: list[str] = []
        self.stopped: dict[str, asyncio.Event] = {}

    def gate(self, key: str) -> asyncio.Event:
        return self.gates.setdefault(key, asyncio.Event())

    def started_event(self, key: str) -> asyncio.Event:
        return self.started.setdefault(key, asyncio.Event())

    def cancelled_event(self, key: str) -> asyncio.Event:
        return self.stopped.setdefault(key, asyncio.Event())


def registry_with(script: Script) -> NodeRegistry:
    class ScriptNode(Node):
        type_name = "script"
        params_schema: ClassVar[Mapping[str, Param]] = {
            "key": Param("string", required=True),
            "value": Param("any"),
            "hang": Param("boolean", default=False),
            "tokens": Param("integer", default=0),
        }

        async def run(self, params: Mapping[str, Any], ctx: NodeContext) -> NodeResult:
            key = str(params["key"])
            script.calls[key] += 1
            script.started_event(key).set()
            try:
                if script.failures[key] > 0:
                    script.failures[key] -= 1
                    raise RuntimeError(f"{key} failed on purpose")
                if key in script.gates:
                    await script.gates[key].wait()
                if params["hang"]:
                    await asyncio.Event().wait()
            except asyncio.CancelledError:
                script.cancelled.append(key)
                script.cancelled_event(key).set()
                raise
            return NodeResult({"value": params.get("value", key)}, tokens=int(params["tokens"]))

    class HeavyScriptNode(ScriptNode):
        type_name = "heavy_script"
        heavy = True

    registry = default_registry()
    registry.register(ScriptNode)
    registry.register(HeavyScriptNode)
    return registry


def version(text: str, registry: NodeRegistry) -> WorkflowVersion:
    return load_workflow(textwrap.dedent(text), registry)


async def run_to_end(
    executor: Executor, wf: WorkflowVersion, inputs: Mapping[str, Any] | None = None
) -> tuple[list[Event], RunResult]:
    handle = executor.start(wf, inputs or {}, run_id="run-1")
    events = [event async for event in handle.events()]
    result = await handle.wait()
    assert_well_formed(events)
    return events, result


def assert_well_formed(events: Sequence[Event]) -> None:
    """run_started first, run_finished last, seq strictly increasing, and every node_started followed by
    exactly one terminal event for that node before its next start."""
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert sum(isinstance(e, RunFinished) for e in events) == 1
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)) and seqs[0] == 1
    open_nodes: set[str] = set()
    for event in events:
        if isinstance(event, NodeStarted):
            assert event.node_id not in open_nodes, event
            open_nodes.add(event.node_id)
        elif isinstance(event, NodeFinished | NodeFailed):
            assert event.node_id in open_nodes, event
            open_nodes.remove(event.node_id)
        elif isinstance(event, NodeSkipped):
            assert event.node_id not in open_nodes
    assert not open_nodes, open_nodes


def index_of(events: Sequence[Event], kind: type[Event], node_id: str, nth: int = 0) -> int:
    hits = [i for i, e in enumerate(events) if isinstance(e, kind) and getattr(e, "node_id", None) == node_id]
    return hits[nth]


def of_node(events: Sequence[Event], node_id: str) -> list[str]:
    return [e.type for e in events if getattr(e, "node_id", None) == node_id]

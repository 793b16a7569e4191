"""Runs one graph (the workflow, or one iterate item's body) to completion inside a run.

A node starts once every predecessor is resolved. It runs when it has no predecessors or at least one live
incoming edge; otherwise it is skipped. Edges go dead when their source is skipped, when a condition does not
take them, on a fail branch the source did not need, or from a source that failed into its fail branch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from deepfort.aigc.workflow.events import (
    Event,
    NodeFailed,
    NodeFinished,
    NodeOutput,
    NodeProgress,
    NodeSkipped,
    NodeStarted,
)
from deepfort.aigc.workflow.graph import build_graph
from deepfort.aigc.workflow.nodes import NodeRegistry
from deepfort.aigc.workflow.nodes.base import BodyFailedError, Node, NodeResult
from deepfort.aigc.workflow.refs import WorkflowEnvironment, evaluate, render_value
from deepfort.aigc.workflow.spec import NodeSpec, SubGraph


class RunAborted(Exception):
    """A run-wide stop that no node strategy handles (the step limit)."""


@dataclass
class RunContext:
    """What every graph of one run shares."""

    run_id: str
    registry: NodeRegistry
    inputs: Mapping[str, Any]
    emit: Callable[[Event], None]
    general: asyncio.Semaphore
    heavy: asyncio.Semaphore
    step_limit: int
    env: WorkflowEnvironment
    steps: int = 0
    restored: Mapping[str, NodeResult] = field(default_factory=dict)
    """Top-level nodes a resumed run keeps: settled with these results, not run again."""

    def take_step(self) -> None:
        if self.steps >= self.step_limit:
            raise RunAborted(f"step limit of {self.step_limit} node attempts reached")
        self.steps += 1

    @asynccontextmanager
    async def slot(self, cls: type[Node]) -> AsyncIterator[None]:
        if cls.control:
            yield
        elif cls.heavy:
            async with self.heavy, self.general:
                yield
        else:
            async with self.general:
                yield


@dataclass
class _Outcome:
    result: NodeResult | None
    error: str = ""


class _NodeContext:
    def __init__(self, graph: GraphRun, event_id: str) -> None:
        self._graph = graph
        self._event_id = event_id

    @property
    def run_id(self) -> str:
        return self._graph.run.run_id

    @property
    def node_id(self) -> str:
        return self._event_id

    def progress(self, value: float, maximum: float) -> None:
        self._graph.run.emit(
            NodeProgress(run_id=self.run_id, node_id=self._event_id, value=value, max=maximum)
        )

    def render(self, template: str, extra: Mapping[str, Any] | None = None) -> Any:
        return render_value(self._graph.run.env, template, {**self._graph.scope(), **(extra or {})})

    def evaluate(self, expression: str, extra: Mapping[str, Any] | None = None) -> Any:
        return evaluate(self._graph.run.env, expression, {**self._graph.scope(), **(extra or {})})

    async def run_body(self, body: SubGraph, item: Any, index: int) -> Mapping[str, Any]:
        sub = GraphRun(
            self._graph.run,
            body,
            f"{self._event_id}[{index}].",
            dict(self._graph.nodes),
            {"item": item, "index": index},
        )
        return await sub.execute()


class GraphRun:
    def __init__(
        self, run: RunContext, sub: SubGraph, prefix: str, nodes: dict[str, Any], extra: Mapping[str, Any]
    ) -> None:
        self.run = run
        self.sub = sub
        self.prefix = prefix
        self.nodes = nodes
        self.extra = extra

    def scope(self) -> dict[str, Any]:
        return {"inputs": self.run.inputs, "nodes": self.nodes, **self.extra}

    async def execute(self) -> dict[str, Any]:
        """Run every node; returns the `nodes` mapping (outer plus this graph's outputs, skipped ones None).
        Raises `BodyFailedError` when a node fails with `abort`."""
        graph = build_graph(self.sub, self.run.registry)
        pending = [spec.id for spec in self.sub.nodes]
        resolved: set[str] = set()
        dead: dict[tuple[str, str], str] = {}
        tasks: dict[asyncio.Task[_Outcome], str] = {}
        try:
            while pending or tasks:
                progressed = True
                while progressed:
                    progressed = False
                    for node_id in list(pending):
                        preds = graph.predecessors[node_id]
                        if not all(p in resolved for p in preds):
                            continue
                        pending.remove(node_id)
                        progressed = True
                        if preds and all((p, node_id) in dead for p in preds):
                            reason = dead[(preds[0], node_id)]
                            self.skip(node_id, reason, graph.successors[node_id], resolved, dead)
                        elif not self.prefix and node_id in self.run.restored:
                            outcome = _Outcome(self.run.restored[node_id])
                            self.settle(self.sub.node(node_id), outcome, graph.successors[node_id], dead)
                            resolved.add(node_id)
                        else:
                            task = asyncio.create_task(self.run_node(self.sub.node(node_id)))
                            tasks[task] = node_id
                if not tasks:
                    break
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    node_id = tasks.pop(task)
                    self.settle(self.sub.node(node_id), task.result(), graph.successors[node_id], dead)
                    resolved.add(node_id)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.nodes

    def skip(
        self,
        node_id: str,
        reason: str,
        successors: list[str],
        resolved: set[str],
        dead: dict[tuple[str, str], str],
    ) -> None:
        self.nodes[node_id] = None
        resolved.add(node_id)
        for succ in successors:
            dead[(node_id, succ)] = f"upstream {self.prefix}{node_id} was skipped"
        self.run.emit(NodeSkipped(run_id=self.run.run_id, node_id=self.prefix + node_id, reason=reason))

    def settle(
        self, spec: NodeSpec, outcome: _Outcome, successors: list[str], dead: dict[tuple[str, str], str]
    ) -> None:
        fail_target = spec.on_error.target
        if outcome.result is not None:
            self.nodes[spec.id] = dict(outcome.result.outputs)
            for succ in outcome.result.skip:
                dead[(spec.id, succ)] = f"branch not taken by {self.prefix}{spec.id}"
            if fail_target is not None:
                dead[(spec.id, fail_target)] = f"{self.prefix}{spec.id} succeeded; fail branch not needed"
            return
        strategy = spec.on_error.strategy
        if strategy == "abort":
            raise BodyFailedError(self.prefix + spec.id, outcome.error)
        if strategy == "continue":
            self.nodes[spec.id] = spec.on_error.default
            if fail_target is not None:
                dead[(spec.id, fail_target)] = "fail branch not needed"
            return
        self.nodes[spec.id] = {"error": outcome.error}
        for succ in successors:
            if succ != fail_target:
                dead[(spec.id, succ)] = f"{self.prefix}{spec.id} failed into its fail branch"

    async def run_node(self, spec: NodeSpec) -> _Outcome:
        cls = self.run.registry.get(spec.type)
        node = cls(self.run.registry.services)
        event_id = self.prefix + spec.id
        run_id = self.run.run_id
        attempts = spec.retry.max + 1
        error = ""
        for attempt in range(1, attempts + 1):
            self.run.take_step()
            async with self.run.slot(cls):
                self.run.emit(
                    NodeStarted(run_id=run_id, node_id=event_id, node_type=spec.type, attempt=attempt)
                )
                started = time.monotonic()
                try:
                    params = self.render_params(cls, spec)
                    async with asyncio.timeout(spec.timeout):
                        result = await node.run(params, _NodeContext(self, event_id))
                except asyncio.CancelledError:
                    self.run.emit(
                        NodeFailed(
                            run_id=run_id,
                            node_id=event_id,
                            error="cancelled",
                            attempt=attempt,
                            will_retry=False,
                            cancelled=True,
                        )
                    )
                    raise
                except RunAborted as exc:
                    failed = NodeFailed(
                        run_id=run_id, node_id=event_id, error=str(exc), attempt=attempt, will_retry=False
                    )
                    self.run.emit(failed)
                    raise
                except TimeoutError:
                    error = f"timed out after {spec.timeout:g}s"
                except Exception as exc:  # a node's own failure; recorded, then retried or handled
                    error = f"{type(exc).__name__}: {exc}"
                else:
                    self.run.emit(
                        NodeOutput(
                            run_id=run_id,
                            node_id=event_id,
                            output=dict(result.outputs),
                            skip=sorted(result.skip),
                        )
                    )
                    duration = time.monotonic() - started
                    self.run.emit(
                        NodeFinished(
                            run_id=run_id, node_id=event_id, duration_s=duration, tokens=result.tokens
                        )
                    )
                    return _Outcome(result)
            will_retry = attempt < attempts
            self.run.emit(
                NodeFailed(
                    run_id=run_id,
                    node_id=event_id,
                    error=error,
                    attempt=attempt,
                    will_retry=will_retry,
                    recovery=None if will_retry else spec.on_error.strategy,
                )
            )
            if will_retry:
                await asyncio.sleep(spec.retry.backoff * 2 ** (attempt - 1))
        return _Outcome(None, error)

    def render_params(self, cls: type[Node], spec: NodeSpec) -> dict[str, Any]:
        scope = self.scope()
        params = {name: decl.default for name, decl in cls.params_schema.items() if decl.default is not None}
        for name, value in spec.params.items():
            params[name] = value if name in cls.raw_params else render_value(self.run.env, value, scope)
        return params


def restorable(
    sub: SubGraph, registry: NodeRegistry, finished: Mapping[str, NodeResult]
) -> dict[str, NodeResult]:
    """The finished nodes a resumed run can keep: those whose predecessors are all kept too, so nothing
    kept was computed from a value that will be computed again."""
    graph = build_graph(sub, registry)
    kept: dict[str, NodeResult] = {}
    grew = True
    while grew:
        grew = False
        for node_id in graph.nodes:
            preds = graph.predecessors[node_id]
            if node_id in finished and node_id not in kept and all(p in kept for p in preds):
                kept[node_id] = finished[node_id]
                grew = True
    return kept

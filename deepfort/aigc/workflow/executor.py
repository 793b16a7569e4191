"""The async DAG executor: start a run of a published workflow version and watch its events.

    executor = Executor(default_registry(), max_concurrency=4, heavy_concurrency=1)
    handle = executor.start(version, {"text": "..."}, run_id="r1", listeners=[store.record])
    async for event in handle.events(): ...
    result = await handle.wait()          # RunResult(status, outputs, error, nodes)

Independent nodes run concurrently, at most `max_concurrency` at once; nodes whose class is `heavy` also
take one of `heavy_concurrency` slots; `control` nodes (condition, iterate, template) take none. The step
limit counts node attempts across the whole run (iterate bodies included); the deadline bounds the run's
wall time. `cancel()` cancels every running node: each gets a `node_failed` with `cancelled: true`, then
`run_finished` reports `cancelled`.

A run a crash interrupted is resumed with `start(..., resume=Resume(...))`: its sequence goes on after the
events already persisted, `run_resumed` replaces `run_started`, and the finished nodes that `restorable`
keeps are settled with their old outputs instead of running again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from jinja2 import TemplateError

from deepfort.aigc.workflow.dsl import bind_inputs
from deepfort.aigc.workflow.events import (
    Event,
    RunFinished,
    RunListener,
    RunResumed,
    RunStarted,
    RunStatus,
)
from deepfort.aigc.workflow.nodes import NodeRegistry
from deepfort.aigc.workflow.nodes.base import BodyFailedError, NodeResult
from deepfort.aigc.workflow.refs import WorkflowEnvironment, render_value
from deepfort.aigc.workflow.scheduler import GraphRun, RunAborted, RunContext, restorable
from deepfort.aigc.workflow.spec import WorkflowVersion


@dataclass(frozen=True)
class RunResult:
    status: RunStatus
    outputs: dict[str, Any]
    error: str | None
    nodes: dict[str, Any]
    """Every top-level node's output (None for skipped ones), as the run left them."""


@dataclass(frozen=True)
class Resume:
    """Where an interrupted run stopped: its last event's `seq`, the node attempts it made (they count
    towards the step limit), the top-level nodes that finished (their results), how many times it has
    now been resumed, and the seconds since it was created (they count towards the run deadline)."""

    last_seq: int
    steps: int
    finished: Mapping[str, NodeResult]
    resumes: int
    elapsed_s: float = 0.0


class RunHandle:
    """One run in progress: its events (as an async iterator, once), `history` (the events of this
    process; a resumed run's earlier ones are in the store), `cancel()` and `wait()`."""

    def __init__(self, run_id: str, listeners: Iterable[RunListener], first_seq: int = 1) -> None:
        self.run_id = run_id
        self.first_seq = first_seq
        self.history: list[Event] = []
        self.result: RunResult | None = None
        self._listeners = list(listeners)
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def emit(self, event: Event) -> None:
        event = replace(event, seq=self.first_seq + len(self.history))
        self.history.append(event)
        self._queue.put_nowait(event)
        for listener in self._listeners:
            listener(event)

    @property
    def finished(self) -> bool:
        return self.result is not None

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            yield event
            if isinstance(event, RunFinished):
                return

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def wait(self) -> RunResult:
        if self._task is not None:
            await asyncio.wait([self._task])
        assert self.result is not None
        return self.result

    def finish(self, result: RunResult) -> None:
        if self.result is None:
            self.result = result
            self.emit(
                RunFinished(
                    run_id=self.run_id, status=result.status, outputs=result.outputs, error=result.error
                )
            )


class Executor:
    def __init__(
        self,
        registry: NodeRegistry,
        *,
        max_concurrency: int = 4,
        heavy_concurrency: int = 1,
        step_limit: int = 1000,
        deadline_s: float | None = None,
    ) -> None:
        self.registry = registry
        self.step_limit = step_limit
        self.deadline_s = deadline_s
        self._general = asyncio.Semaphore(max_concurrency)
        self._heavy = asyncio.Semaphore(heavy_concurrency)

    def start(
        self,
        version: WorkflowVersion,
        inputs: Mapping[str, Any],
        run_id: str | None = None,
        listeners: Iterable[RunListener] = (),
        resume: Resume | None = None,
    ) -> RunHandle:
        """Check the inputs (raising `InvalidRequestError` before anything runs) and start the run, or
        go on with an interrupted one (``resume``, with its ``run_id``)."""
        bound = bind_inputs(version.workflow, inputs)
        workflow = version.workflow
        restored: dict[str, NodeResult] = {}
        steps, deadline = 0, self.deadline_s
        if resume is None:
            handle = RunHandle(run_id or uuid.uuid4().hex, listeners)
            handle.emit(
                RunStarted(
                    run_id=handle.run_id,
                    workflow=workflow.name,
                    version=workflow.version,
                    digest=version.digest,
                    inputs=dict(bound),
                )
            )
        else:
            if run_id is None:
                raise ValueError("a resumed run needs its run_id")
            handle = RunHandle(run_id, listeners, first_seq=resume.last_seq + 1)
            restored = restorable(workflow.graph, self.registry, resume.finished)
            handle.emit(RunResumed(run_id=run_id, restored=list(restored), resumes=resume.resumes))
            steps = resume.steps
            if deadline is not None:
                deadline = max(0.0, deadline - resume.elapsed_s)
        task = asyncio.create_task(self._main(version, bound, handle, restored, steps, deadline))
        task.add_done_callback(lambda _: handle.finish(RunResult("cancelled", {}, "cancelled", {})))
        handle._task = task
        return handle

    async def run(
        self, version: WorkflowVersion, inputs: Mapping[str, Any], run_id: str | None = None
    ) -> AsyncIterator[Event]:
        """Start a run and yield its events; leaving the loop early cancels the run."""
        handle = self.start(version, inputs, run_id)
        try:
            async for event in handle.events():
                yield event
        finally:
            handle.cancel()

    async def _main(
        self,
        version: WorkflowVersion,
        inputs: dict[str, Any],
        handle: RunHandle,
        restored: Mapping[str, NodeResult],
        steps: int,
        deadline: float | None,
    ) -> None:
        context = RunContext(
            run_id=handle.run_id,
            registry=self.registry,
            inputs=inputs,
            emit=handle.emit,
            general=self._general,
            heavy=self._heavy,
            step_limit=self.step_limit,
            env=WorkflowEnvironment(),
            steps=steps,
            restored=restored,
        )
        graph = GraphRun(context, version.workflow.graph, "", {}, {})
        status: RunStatus = "succeeded"
        error: str | None = None
        outputs: dict[str, Any] = {}
        try:
            if deadline is not None and deadline <= 0:
                raise TimeoutError  # resumed after its deadline: nothing starts
            async with asyncio.timeout(deadline):
                await graph.execute()
            outputs = self._outputs(version, context, graph.nodes)
        except (BodyFailedError, RunAborted) as exc:
            status, error = "failed", str(exc)
        except TimeoutError:
            status, error = "timed_out", f"run deadline of {self.deadline_s:g}s exceeded"
        except asyncio.CancelledError:
            status, error = "cancelled", "cancelled"
        handle.finish(RunResult(status, outputs, error, dict(graph.nodes)))

    def _outputs(
        self, version: WorkflowVersion, context: RunContext, nodes: dict[str, Any]
    ) -> dict[str, Any]:
        """The declared outputs; one that reads a skipped branch is null."""
        scope = {"inputs": context.inputs, "nodes": nodes}
        outputs: dict[str, Any] = {}
        for name, ref in version.workflow.outputs.items():
            try:
                outputs[name] = render_value(context.env, ref, scope)
            except TemplateError:
                outputs[name] = None
        return outputs

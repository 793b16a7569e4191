"""Resuming an interrupted run on the executor: kept nodes are not run again, a condition's branch stays
as it was taken, nothing is kept that was computed from a value computed again, and the sequence goes on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from deepfort.aigc.workflow.events import Event, NodeStarted, RunFinished, RunResumed
from deepfort.aigc.workflow.executor import Executor, Resume
from deepfort.aigc.workflow.nodes.base import NodeResult
from tests.aigc.scripted import Script, of_node, registry_with, version

BRANCHES = """
    name: branches
    inputs: {n: {type: integer, default: 5}}
    nodes:
      - {id: first, type: script, params: {key: first}}
      - {id: check, type: condition, params: {if: "inputs.n > 3", then: big, else: small}}
      - {id: big, type: script, params: {key: big, value: "{{ nodes.first.value }}!"}}
      - {id: small, type: script, params: {key: small}}
      - {id: join, type: script, params: {key: join}}
    edges: [first -> check, big -> join, small -> join]
    outputs: {big: "{{ nodes.big.value }}", small: "{{ nodes.small.value }}"}
"""


def arun(body: Callable[[], Awaitable[None]]) -> None:
    async def guarded() -> None:
        async with asyncio.timeout(30):
            await body()

    asyncio.run(guarded())


async def resume_to_end(
    executor: Executor, text: str, resume: Resume, inputs: dict[str, object] | None = None
) -> list[Event]:
    wf = version(text, executor.registry)
    handle = executor.start(wf, inputs or {}, run_id="run-1", resume=resume)
    return [event async for event in handle.events()]


def test_kept_nodes_do_not_run_again_and_the_branch_stays_taken() -> None:
    async def body() -> None:
        script = Script()
        registry = registry_with(script)
        # The crash came after `check` chose `big` (it switched `small` off) and before `big` finished.
        finished = {
            "first": NodeResult({"value": "kept"}),
            "check": NodeResult({"result": True}, skip=frozenset({"small"})),
        }
        resume = Resume(last_seq=9, steps=3, finished=finished, resumes=1)
        events = await resume_to_end(Executor(registry), BRANCHES, resume, {"n": 1})
        first = events[0]
        assert isinstance(first, RunResumed) and first.seq == 10
        assert sorted(first.restored) == ["check", "first"] and first.resumes == 1
        assert [e.seq for e in events] == list(range(10, 10 + len(events)))
        assert script.calls["first"] == 0  # kept: neither run again nor re-evaluated with n=1
        assert of_node(events, "check") == []
        assert of_node(events, "small") == ["node_skipped"]
        assert of_node(events, "big") == ["node_started", "node_output", "node_finished"]
        last = events[-1]
        assert isinstance(last, RunFinished) and last.status == "succeeded"
        assert last.outputs == {"big": "kept!", "small": None}

    arun(body)


def test_a_node_after_one_that_runs_again_is_not_kept() -> None:
    async def body() -> None:
        script = Script()
        registry = registry_with(script)
        # `big` finished but `first` did not (say it failed with on_error: continue): both run again.
        finished = {"big": NodeResult({"value": "stale"})}
        resume = Resume(last_seq=4, steps=2, finished=finished, resumes=1)
        events = await resume_to_end(Executor(registry), BRANCHES, resume)
        resumed = events[0]
        assert isinstance(resumed, RunResumed) and resumed.restored == []
        assert script.calls["first"] == 1 and script.calls["big"] == 1
        last = events[-1]
        assert isinstance(last, RunFinished) and last.outputs["big"] == "first!"

    arun(body)


def test_the_step_limit_counts_attempts_before_the_crash() -> None:
    async def body() -> None:
        registry = registry_with(Script())
        resume = Resume(last_seq=20, steps=5, finished={}, resumes=1)
        events = await resume_to_end(Executor(registry, step_limit=6), BRANCHES, resume)
        assert sum(isinstance(e, NodeStarted) for e in events) == 1
        last = events[-1]
        assert isinstance(last, RunFinished) and last.status == "failed"
        assert last.error is not None and "step limit" in last.error

    arun(body)


def test_a_resume_needs_the_run_id() -> None:
    registry = registry_with(Script())
    with pytest.raises(ValueError, match="run_id"):
        Executor(registry).start(version(BRANCHES, registry), {}, resume=Resume(1, 0, {}, 1))


def test_the_run_deadline_counts_the_time_before_the_crash() -> None:
    async def body() -> None:
        script = Script()
        registry = registry_with(script)
        resume = Resume(last_seq=3, steps=1, finished={}, resumes=1, elapsed_s=3600)
        events = await resume_to_end(Executor(registry, deadline_s=60), BRANCHES, resume)
        last = events[-1]
        assert isinstance(last, RunFinished) and last.status == "timed_out" and not script.calls

    arun(body)

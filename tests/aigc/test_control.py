"""condition and iterate, cancellation, the step limit and the run deadline."""

from __future__ import annotations

import pytest

from deepfort.aigc.workflow.events import NodeFailed, NodeFinished, NodeProgress, NodeSkipped, NodeStarted
from deepfort.aigc.workflow.executor import Executor
from tests.aigc.scripted import (
    Script,
    assert_well_formed,
    index_of,
    of_node,
    registry_with,
    run_to_end,
    version,
)
from tests.aigc.test_executor import arun

BRANCHES = """
    name: branch
    inputs: {n: {type: integer}}
    nodes:
      - {id: check, type: condition, params: {if: "inputs.n > 3", then: big, else: small}}
      - {id: big, type: script, params: {key: big}}
      - {id: small, type: script, params: {key: small}}
      - {id: after_big, type: script, params: {key: after_big}}
      - {id: join, type: script, params: {key: join}}
    edges: [big -> after_big, after_big -> join, small -> join]
"""


@pytest.mark.parametrize(
    ("n", "taken", "skipped"), [(5, {"big", "after_big"}, {"small"}), (1, {"small"}, {"big", "after_big"})]
)
def test_condition_skips_the_branch_not_taken(n: int, taken: set[str], skipped: set[str]) -> None:
    async def body() -> None:
        registry = registry_with(Script())
        events, result = await run_to_end(Executor(registry), version(BRANCHES, registry), {"n": n})
        assert result.status == "succeeded" and result.nodes["check"] == {"result": n > 3}
        for node in taken | {"join"}:
            assert of_node(events, node)[-1] == "node_finished"
        for node in skipped:
            assert of_node(events, node) == ["node_skipped"]
        reasons = {e.node_id: e.reason for e in events if isinstance(e, NodeSkipped)}
        first_skipped = "small" if n > 3 else "big"
        assert reasons[first_skipped] == "branch not taken by check"

    arun(body)


def test_condition_accepts_a_reference() -> None:
    text = """
        name: ref
        inputs: {go: {type: boolean}}
        nodes:
          - {id: check, type: condition, params: {if: "{{ inputs.go }}", then: go_on}}
          - {id: go_on, type: script, params: {key: go_on}}
    """

    async def body() -> None:
        registry = registry_with(Script())
        events, _ = await run_to_end(Executor(registry), version(text, registry), {"go": False})
        assert of_node(events, "go_on") == ["node_skipped"]

    arun(body)


ITERATE = """
    name: loop
    inputs: {words: {type: list}}
    nodes:
      - {id: prefix, type: template, params: {template: "#"}}
      - id: each
        type: iterate
        params:
          over: "{{ inputs.words }}"
          parallel: PARALLEL
          collect: "{{ nodes.shout.text }}"
          body:
            nodes:
              - {id: work, type: script, params: {key: "{{ item }}", value: "{{ index }}:{{ item }}"}}
              - {id: shout, type: template, params: {template: "{{ nodes.prefix.text ~ nodes.work.value }}"}}
            edges: [work -> shout]
    edges: [prefix -> each]
    outputs: {results: "{{ nodes.each.results }}", failed: "{{ nodes.each.failed }}"}
"""


def test_iterate_records_partial_failure_per_item() -> None:
    async def body() -> None:
        script = Script()
        script.failures["bad"] = 1
        registry = registry_with(script)
        wf = version(ITERATE.replace("PARALLEL", "2"), registry)
        events, result = await run_to_end(Executor(registry), wf, {"words": ["x", "bad", "z"]})
        assert result.status == "succeeded"
        assert result.outputs == {"results": ["#0:x", None, "#2:z"], "failed": 1}
        each = result.nodes["each"]
        assert each["errors"] == [
            {"index": 1, "node": "each[1].work", "error": "RuntimeError: bad failed on purpose"}
        ]
        assert of_node(events, "each[1].shout") == []  # the item stopped at its failed node
        assert of_node(events, "each[0].shout")[-1] == "node_finished"
        progress = [e for e in events if isinstance(e, NodeProgress) and e.node_id == "each"]
        assert [(p.value, p.max) for p in progress] == [(1, 3), (2, 3), (3, 3)]

    arun(body)


def test_iterate_parallel_bound() -> None:
    async def body() -> None:
        script = Script()
        registry = registry_with(script)
        wf = version(ITERATE.replace("PARALLEL", "1"), registry)
        events, result = await run_to_end(Executor(registry), wf, {"words": ["a", "b", "c"]})
        assert result.outputs["results"] == ["#0:a", "#1:b", "#2:c"]
        for index in (0, 1):
            done = index_of(events, NodeFinished, f"each[{index}].shout")
            assert done < index_of(events, NodeStarted, f"each[{index + 1}].work")

    arun(body)


def test_iterate_items_overlap_when_parallel() -> None:
    async def body() -> None:
        script = Script()
        gate = script.gate("a")
        registry = registry_with(script)
        handle = Executor(registry).start(
            version(ITERATE.replace("PARALLEL", "2"), registry), {"words": ["a", "b"]}
        )
        await script.started_event("b").wait()
        gate.set()
        events = [e async for e in handle.events()]
        assert_well_formed(events)
        assert index_of(events, NodeStarted, "each[1].work") < index_of(events, NodeFinished, "each[0].work")

    arun(body)


CANCELLABLE = """
    name: cancel
    nodes:
      - {id: a, type: script, params: {key: a}}
      - {id: b, type: script, params: {key: b}}
      - {id: c, type: script, params: {key: c}}
    edges: [a -> c]
"""


def test_cancel_stops_running_nodes() -> None:
    async def body() -> None:
        script = Script()
        script.gate("a")
        script.gate("b")
        registry = registry_with(script)
        handle = Executor(registry).start(version(CANCELLABLE, registry), {})
        await script.started_event("a").wait()
        await script.started_event("b").wait()
        handle.cancel()
        events = [e async for e in handle.events()]
        assert_well_formed(events)
        result = await handle.wait()
        assert result.status == "cancelled"
        assert sorted(script.cancelled) == ["a", "b"]
        cancelled = {e.node_id for e in events if isinstance(e, NodeFailed) and e.cancelled}
        assert cancelled == {"a", "b"}
        assert "c" not in script.calls

    arun(body)


def test_cancel_reaches_iterate_bodies() -> None:
    async def body() -> None:
        script = Script()
        script.gate("x")
        registry = registry_with(script)
        handle = Executor(registry).start(
            version(ITERATE.replace("PARALLEL", "1"), registry), {"words": ["x"]}
        )
        await script.started_event("x").wait()
        handle.cancel()
        events = [e async for e in handle.events()]
        assert_well_formed(events)
        cancelled = [e.node_id for e in events if isinstance(e, NodeFailed) and e.cancelled]
        assert cancelled == ["each[0].work", "each"]
        assert (await handle.wait()).status == "cancelled"

    arun(body)


def test_run_deadline_times_out() -> None:
    text = """
        name: slow
        nodes: [{id: a, type: script, params: {key: a, hang: true}}]
    """

    async def body() -> None:
        script = Script()
        registry = registry_with(script)
        events, result = await run_to_end(Executor(registry, deadline_s=0.01), version(text, registry))
        assert result.status == "timed_out" and result.error == "run deadline of 0.01s exceeded"
        assert script.cancelled == ["a"]
        assert of_node(events, "a") == ["node_started", "node_failed"]

    arun(body)


def test_step_limit_fails_the_run() -> None:
    async def body() -> None:
        registry = registry_with(Script())
        wf = version(ITERATE.replace("PARALLEL", "1"), registry)
        events, result = await run_to_end(Executor(registry, step_limit=4), wf, {"words": ["a", "b", "c"]})
        assert result.status == "failed" and result.error == "step limit of 4 node attempts reached"
        assert sum(isinstance(e, NodeStarted) for e in events) == 4

    arun(body)

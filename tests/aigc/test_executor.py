"""The DAG executor on plain graphs: parallel branches and bounds (evidence from event order), retry,
timeout, on_error strategies, listeners. Nodes are scripted and gated by the test, never timed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from deepfort.aigc.workflow.events import (
    Event,
    NodeFailed,
    NodeFinished,
    NodeOutput,
    NodeStarted,
    RunFinished,
)
from deepfort.aigc.workflow.executor import Executor
from deepfort.errors import InvalidRequestError
from tests.aigc.scripted import Script, index_of, of_node, registry_with, run_to_end, version

GUARD_S = 30  # a hung test fails instead of hanging the suite; nothing asserts on time


def arun(body: Callable[[], Awaitable[None]]) -> None:
    async def guarded() -> None:
        async with asyncio.timeout(GUARD_S):
            await body()

    asyncio.run(guarded())


TWO_INDEPENDENT = """
    name: pair
    nodes:
      - {id: a, type: script, params: {key: a}}
      - {id: b, type: script, params: {key: b}}
      - {id: join, type: script, params: {key: join, value: "{{ nodes.a.value }}+{{ nodes.b.value }}"}}
    edges: [a -> join, b -> join]
    outputs: {joined: "{{ nodes.join.value }}"}
"""


def test_independent_branches_overlap() -> None:
    async def body() -> None:
        script = Script()
        gate_a = script.gate("a")
        registry = registry_with(script)
        handle = Executor(registry).start(version(TWO_INDEPENDENT, registry), {})
        await script.started_event("b").wait()  # b starts while a is still held open
        gate_a.set()
        events = [e async for e in handle.events()]
        assert index_of(events, NodeStarted, "b") < index_of(events, NodeFinished, "a")
        assert index_of(events, NodeStarted, "a") < index_of(events, NodeFinished, "b")
        join_start = index_of(events, NodeStarted, "join")
        assert join_start > max(index_of(events, NodeFinished, "a"), index_of(events, NodeFinished, "b"))
        result = await handle.wait()
        assert result.status == "succeeded" and result.outputs == {"joined": "a+b"}

    arun(body)


def test_max_concurrency_one_serialises() -> None:
    async def body() -> None:
        script = Script()
        registry = registry_with(script)
        events, result = await run_to_end(
            Executor(registry, max_concurrency=1), version(TWO_INDEPENDENT, registry)
        )
        starts = [e.node_id for e in events if isinstance(e, NodeStarted)]
        first, second = starts[0], starts[1]
        assert index_of(events, NodeFinished, first) < index_of(events, NodeStarted, second)
        assert result.status == "succeeded"

    arun(body)


def test_heavy_nodes_use_their_own_bound() -> None:
    text = """
        name: heavy
        nodes:
          - {id: h1, type: heavy_script, params: {key: h1}}
          - {id: h2, type: heavy_script, params: {key: h2}}
          - {id: light, type: script, params: {key: light}}
    """

    async def body() -> None:
        script = Script()
        for key in ("h1", "h2"):
            script.gate(key)
        registry = registry_with(script)
        handle = Executor(registry, max_concurrency=4, heavy_concurrency=1).start(version(text, registry), {})
        # the light node runs beside a held heavy node; the second heavy one waits for the first
        await script.started_event("light").wait()
        first = "h1" if script.calls["h1"] else "h2"
        second = "h2" if first == "h1" else "h1"
        await script.started_event(first).wait()
        script.gates[first].set()
        await script.started_event(second).wait()
        script.gates[second].set()
        events = [e async for e in handle.events()]
        assert index_of(events, NodeFinished, first) < index_of(events, NodeStarted, second)
        assert index_of(events, NodeStarted, "light") < index_of(events, NodeFinished, first)

    arun(body)


def test_retry_then_success() -> None:
    text = """
        name: retry
        nodes: [{id: a, type: script, params: {key: a, tokens: 7}, retry: {max: 2, backoff: 0}}]
    """

    async def body() -> None:
        script = Script()
        script.failures["a"] = 2
        registry = registry_with(script)
        events, result = await run_to_end(Executor(registry), version(text, registry))
        assert of_node(events, "a") == [
            "node_started",
            "node_failed",
            "node_started",
            "node_failed",
            "node_started",
            "node_output",
            "node_finished",
        ]
        failures = [e for e in events if isinstance(e, NodeFailed)]
        assert [(f.attempt, f.will_retry, f.recovery) for f in failures] == [(1, True, None), (2, True, None)]
        assert "failed on purpose" in failures[0].error
        finished = events[index_of(events, NodeFinished, "a")]
        assert isinstance(finished, NodeFinished) and finished.tokens == 7 and finished.duration_s >= 0
        assert result.status == "succeeded"

    arun(body)


def test_timeout_fails_the_attempt() -> None:
    text = """
        name: timeout
        nodes:
          - {id: a, type: script, params: {key: a, hang: true}, timeout: 0.01, on_error: continue,
             default: {value: late}}
          - {id: b, type: script, params: {key: b, value: "{{ nodes.a.value }}"}}
        edges: [a -> b]
    """

    async def body() -> None:
        script = Script()
        registry = registry_with(script)
        events, result = await run_to_end(Executor(registry), version(text, registry))
        failed = events[index_of(events, NodeFailed, "a")]
        assert isinstance(failed, NodeFailed)
        assert failed.error == "timed out after 0.01s" and failed.recovery == "continue"
        assert script.cancelled == ["a"]
        assert result.status == "succeeded" and result.nodes["b"] == {"value": "late"}

    arun(body)


ON_ERROR = """
    name: strategies
    nodes:
      - {id: a, type: script, params: {key: a}, retry: {max: 1}, STRATEGY}
      - {id: b, type: script, params: {key: b, value: "got {{ nodes.a.value }}"}}
      - {id: rescue, type: script, params: {key: rescue}}
      - {id: other, type: script, params: {key: other}}
    edges: [a -> b]  # the fail branch adds a -> rescue
"""


@pytest.mark.parametrize(
    ("strategy", "status", "ran", "not_run"),
    [
        ("on_error: abort", "failed", set(), {"b"}),
        ("on_error: continue, default: {value: fallback}", "succeeded", {"b", "rescue"}, set()),
        ("on_error: {fail_branch: rescue}", "succeeded", {"rescue"}, {"b"}),
    ],
    ids=["abort", "continue", "fail_branch"],
)
def test_on_error_strategies(strategy: str, status: str, ran: set[str], not_run: set[str]) -> None:
    async def body() -> None:
        script = Script()
        script.failures["a"] = 5
        registry = registry_with(script)
        wf = version(ON_ERROR.replace("STRATEGY", strategy), registry)
        events, result = await run_to_end(Executor(registry), wf)
        assert result.status == status
        final = [e for e in events if isinstance(e, NodeFailed) and e.node_id == "a"][-1]
        assert final.attempt == 2 and not final.will_retry
        assert final.recovery == strategy.split(":")[1].strip(" {").split(",")[0]
        for node in ran:
            assert "node_finished" in of_node(events, node)
        for node in not_run:
            assert "node_started" not in of_node(events, node)
        if status == "failed":
            assert result.error is not None and result.error.startswith("node a failed: RuntimeError")
        else:
            assert all(of_node(events, node) == ["node_skipped"] for node in not_run)
            assert result.nodes["other"] == {"value": "other"}
        if "b" in ran:
            assert result.nodes["b"] == {"value": "got fallback"}
        if strategy.endswith("{fail_branch: rescue}"):
            assert result.nodes["a"] == {"error": "RuntimeError: a failed on purpose"}

    arun(body)


def test_fail_branch_is_skipped_when_node_succeeds() -> None:
    async def body() -> None:
        script = Script()
        registry = registry_with(script)
        wf = version(ON_ERROR.replace("STRATEGY", "on_error: {fail_branch: rescue}"), registry)
        events, result = await run_to_end(Executor(registry), wf)
        assert of_node(events, "rescue") == ["node_skipped"]
        assert result.nodes["b"] == {"value": "got a"} and result.nodes["rescue"] is None

    arun(body)


def test_listeners_see_every_event_in_order_and_outputs_are_events() -> None:
    async def body() -> None:
        script = Script()
        registry = registry_with(script)
        seen: list[Event] = []
        handle = Executor(registry).start(version(TWO_INDEPENDENT, registry), {}, listeners=[seen.append])
        streamed = [e async for e in handle.events()]
        assert seen == streamed == handle.history
        outputs = {e.node_id: e.output for e in streamed if isinstance(e, NodeOutput)}
        assert outputs["join"] == {"value": "a+b"}
        assert isinstance(streamed[-1], RunFinished) and streamed[-1].to_dict()["type"] == "run_finished"

    arun(body)


def test_template_node_and_inputs() -> None:
    text = """
        name: hello
        inputs: {who: {type: string, required: true}, n: {type: integer, default: 2}}
        nodes:
          - id: greet
            type: template
            params: {template: "{% for i in range(inputs.n) %}hi {{ inputs.who }}! {% endfor %}"}
          - {id: shout, type: template, params: {template: "{{ nodes.greet.text | upper }}"}}
        edges: [greet -> shout]
        outputs: {text: "{{ nodes.shout.text }}"}
    """

    async def body() -> None:
        registry = registry_with(Script())
        wf = version(text, registry)
        _, result = await run_to_end(Executor(registry), wf, {"who": "ann"})
        assert result.outputs == {"text": "HI ANN! HI ANN! "}
        with pytest.raises(InvalidRequestError, match="missing required input 'who'"):
            Executor(registry).start(wf, {})

    arun(body)


def test_template_is_sandboxed() -> None:
    text = """
        name: escape
        nodes: [{id: t, type: template, params: {template: "{{ ''.__class__.__mro__ }}"}}]
    """

    async def body() -> None:
        registry = registry_with(Script())
        _, result = await run_to_end(Executor(registry), version(text, registry))
        assert result.status == "failed" and "SecurityError" in (result.error or "")

    arun(body)

"""The run service on a real store: persistence through the listener, idempotency, restart recovery,
following events, artefacts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from deepfort.aigc.runs import RunService
from deepfort.aigc.runs.service import INTERRUPTED
from deepfort.aigc.workflow import WorkflowValidationError
from deepfort.security.crypto import Keyring
from deepfort.store import Store
from deepfort.store.workflows import EventRow

CHAIN = """
name: chain
inputs: {text: {type: string, required: true}}
nodes:
  - {id: a, type: template, params: {template: "A {{ inputs.text }}"}}
  - {id: b, type: template, params: {template: "{{ nodes.a.text }} B"}}
edges: [a -> b]
outputs: {result: "{{ nodes.b.text }}"}
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'deepfort.db'}", Keyring({"m": os.urandom(16)}, "m")) as store:
        yield store


def arun(body: Callable[[], Awaitable[None]]) -> None:
    async def guarded() -> None:
        async with asyncio.timeout(30):
            await body()

    asyncio.run(guarded())


def test_a_run_is_persisted_through_the_listener(store: Store, tmp_path: Path) -> None:
    async def body() -> None:
        service = RunService(store, tmp_path)
        await service.start()
        workflow, created = await service.publish(CHAIN)
        assert created and workflow.version == 1
        run, _ = await service.start_run(workflow.id, {"text": "x"}, key_id="alice")
        final = await service.wait(run.id)
        assert (final.status, final.outputs, final.error) == ("succeeded", {"result": "A x B"}, None)
        events = store.run_events(run.id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[0].type == "run_started" and events[-1].type == "run_finished"
        assert await service.node_outputs(run.id) == {"a": {"text": "A x"}, "b": {"text": "A x B"}}
        followed = [e.seq async for e in service.follow(run.id, after=2)]
        assert followed == [e.seq for e in events[2:]]
        await service.close()

    arun(body)


def test_publishing_versions_and_invalid_documents(store: Store, tmp_path: Path) -> None:
    async def body() -> None:
        service = RunService(store, tmp_path)
        first, _ = await service.publish(CHAIN)
        same, created = await service.publish(CHAIN)
        assert not created and same.id == first.id
        changed, created = await service.publish(CHAIN.replace(" B", " C"))
        assert created and changed.version == 2
        assert (await service.workflow("chain")).id == changed.id
        assert (await service.workflow("chain@1")).id == first.id
        with pytest.raises(WorkflowValidationError) as caught:
            await service.publish(CHAIN.replace("nodes.a.text", "nodes.missing.text"))
        assert any(p.node == "b" for p in caught.value.problems)

    arun(body)


def test_the_same_idempotency_key_gives_the_same_run(store: Store, tmp_path: Path) -> None:
    async def body() -> None:
        service = RunService(store, tmp_path)
        workflow, _ = await service.publish(CHAIN)
        one, created = await service.start_run(
            workflow.id, {"text": "x"}, key_id="alice", idempotency_key="k1"
        )
        two, again = await service.start_run(workflow.id, {"text": "y"}, key_id="alice", idempotency_key="k1")
        other, other_created = await service.start_run(
            workflow.id, {"text": "x"}, key_id="bob", idempotency_key="k1"
        )
        assert created and not again and two.id == one.id
        assert other_created and other.id != one.id
        await service.wait(one.id)
        await service.wait(other.id)
        assert len(store.list_runs()) == 2

    arun(body)


def test_a_run_left_running_is_failed_on_start_and_keeps_finished_outputs(
    store: Store, tmp_path: Path
) -> None:
    workflow, _ = store.publish_workflow("chain", "d", "{}")
    run, _ = store.create_run(workflow, {"text": "x"}, "alice")
    store.append_run_events(
        run.id,
        [
            EventRow(1, "run_started", {"seq": 1}),
            EventRow(2, "node_output", {"seq": 2, "node_id": "a", "output": {"text": "A x"}}),
        ],
    )

    async def body() -> None:
        service = RunService(store, tmp_path)
        await service.start()
        got = await service.get_run(run.id)
        assert (got.status, got.error) == ("failed", INTERRUPTED)
        events = [e async for e in service.follow(run.id)]
        assert [(e.seq, e.type) for e in events] == [
            (1, "run_started"),
            (2, "node_output"),
            (3, "run_finished"),
        ]
        assert await service.node_outputs(run.id) == {"a": {"text": "A x"}}

    arun(body)


def test_artefacts_are_kept_by_sha256(store: Store, tmp_path: Path) -> None:
    service = RunService(store, tmp_path)
    row = service.artefacts.put_bytes(b"frame", "image/png", node_id="image")
    source = tmp_path / "clip.bin"
    source.write_bytes(b"frame")
    assert service.artefacts.put_file(source, "image/png") == row
    found = service.artefacts.get(row.id)
    assert found is not None and found[1].read_bytes() == b"frame"
    assert found[1] == tmp_path / "artefacts" / row.id[:2] / row.id

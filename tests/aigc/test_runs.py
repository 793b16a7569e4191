"""The run service on a real store: persistence through the listener, idempotency, restart recovery,
following events, artefacts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from deepfort.aigc.runs import RunService
from deepfort.aigc.runs.artefacts import NodeArtefacts
from deepfort.aigc.runs.service import INTERRUPTED
from deepfort.aigc.workflow import WorkflowValidationError
from deepfort.config import WorkflowSettings
from deepfort.crypto.sm import Keyring
from deepfort.store import Store
from tests.aigc.scripted import Script, registry_with

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
        await service.close()

    arun(body)


GATED = """
name: gated
inputs: {text: {type: string, default: x}}
nodes:
  - {id: a, type: script, params: {key: a, value: "A {{ inputs.text }}"}}
  - {id: gate, type: script, params: {key: gate}}
  - {id: b, type: script, params: {key: b, value: "{{ nodes.a.value }} B"}}
edges: [a -> gate, gate -> b]
outputs: {result: "{{ nodes.b.value }}"}
"""


def service_on(store: Store, data_dir: Path, script: Script, **settings: object) -> RunService:
    return RunService(
        store, data_dir, registry=registry_with(script), settings=WorkflowSettings.model_validate(settings)
    )


async def held_at_gate(service: RunService, script: Script) -> str:
    """Start GATED on ``service``; returns the run's id once `gate` runs (held until the gate opens)."""
    workflow, _ = await service.publish(GATED)
    run, _ = await service.start_run(workflow.id, {}, key_id="alice")
    await script.started_event("gate").wait()
    return run.id


async def interrupted_at_gate(store: Store, data_dir: Path, **settings: object) -> str:
    """Start GATED on one service, then stop that service while `gate` runs, as a restart would."""
    script = Script()
    script.gate("gate")
    first = service_on(store, data_dir, script, **settings)
    await first.start()
    run_id = await held_at_gate(first, script)
    await first.close()
    assert store.get_run(run_id).status == "running"  # type: ignore[union-attr]
    return run_id


def test_an_interrupted_run_resumes_from_its_finished_nodes(store: Store, tmp_path: Path) -> None:
    async def body() -> None:
        run_id = await interrupted_at_gate(store, tmp_path)
        script = Script()
        second = service_on(store, tmp_path, script)
        await second.start()  # the same instance slot: its own run, adopted at once
        final = await second.wait(run_id)
        assert (final.status, final.outputs, final.resumes) == ("succeeded", {"result": "A x B"}, 1)
        assert script.calls == {"gate": 1, "b": 1}  # `a` kept its output and did not run again
        events = store.run_events(run_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert [e.body["node_id"] for e in events if e.type == "node_started"] == ["a", "gate", "gate", "b"]
        cut = next(e for e in events if e.type == "node_failed")
        assert cut.body["node_id"] == "gate" and cut.body["interrupted"] and cut.body["error"] == INTERRUPTED
        resumed = next(e for e in events if e.type == "run_resumed")
        assert resumed.seq == cut.seq + 1 and resumed.body["restored"] == ["a"]
        assert [e.type for e in events].count("run_finished") == 1
        await second.close()

    arun(body)


def test_recovery_fail_marks_it_failed_and_keeps_finished_outputs(store: Store, tmp_path: Path) -> None:
    async def body() -> None:
        run_id = await interrupted_at_gate(store, tmp_path)
        script = Script()
        second = service_on(store, tmp_path, script, recovery="fail")
        await second.start()
        got = await second.get_run(run_id)
        assert (got.status, got.error) == ("failed", INTERRUPTED)
        assert await second.node_outputs(run_id) == {"a": {"value": "A x"}}
        types = [e.type async for e in second.follow(run_id)]
        assert types[-2:] == ["node_failed", "run_finished"] and not script.calls
        await second.close()

    arun(body)


def test_a_run_is_resumed_at_most_max_resumes_times(store: Store, tmp_path: Path) -> None:
    async def body() -> None:
        run_id = await interrupted_at_gate(store, tmp_path, max_resumes=0)
        second = service_on(store, tmp_path, Script(), max_resumes=0)
        await second.start()
        got = await second.get_run(run_id)
        assert got.status == "failed" and got.error is not None and "after 0 resumes" in got.error
        await second.close()

    arun(body)


def test_replicas_adopt_only_runs_whose_heartbeat_is_stale(store: Store, tmp_path: Path) -> None:
    async def body() -> None:
        script = Script()
        script.gate("gate")
        alive = RunService(store, tmp_path / "a", registry=registry_with(script), owner="replica-a")
        await alive.start()
        run_id = await held_at_gate(alive, script)
        patient = RunService(store, tmp_path / "b", registry=registry_with(Script()), owner="replica-b")
        await patient.start()  # replica-a's heartbeat is fresh: its run is left alone
        assert store.get_run(run_id).owner == "replica-a"  # type: ignore[union-attr]
        await alive.close()  # replica-a goes away; its heartbeat ages
        other = Script()
        eager = service_on(store, tmp_path / "c", other, lease_s=0.001)
        await asyncio.sleep(0.01)
        assert await eager.adopt(own=False) == [run_id]
        final = await eager.wait(run_id)
        assert final.status == "succeeded" and final.owner == eager.owner and other.calls["a"] == 0
        assert await patient.adopt(own=False) == []  # finished: nothing left to adopt
        await patient.close()
        await eager.close()

    arun(body)


def test_artefacts_are_kept_by_sha256(store: Store, tmp_path: Path) -> None:
    service = RunService(store, tmp_path)
    row = service.artefacts.put_bytes(b"frame", "image/png", node_id="image")
    source = tmp_path / "clip.bin"
    source.write_bytes(b"frame")
    assert service.artefacts.put_file(source, "image/png") == row
    found = service.artefacts.get(row.id)
    assert found is not None and found[1].read_bytes() == b"frame"
    assert found[1] == tmp_path / "artefacts" / row.id[:2] / f"{row.id}.png"


def test_node_artefacts_name_their_run_and_node(store: Store, tmp_path: Path) -> None:
    workflow, _ = store.publish_workflow("speak", "d", "{}")
    run, _ = store.create_run(workflow, {}, "alice")
    service = RunService(store, tmp_path)
    artefact_id, path = NodeArtefacts(service.artefacts).put(
        b"WAV", "audio/wav", run_id=run.id, node_id="say"
    )
    row = store.get_artefact(artefact_id)
    assert row is not None and (row.run_id, row.node_id, row.mime) == (run.id, "say", "audio/wav")
    assert path.suffix == ".wav" and path.read_bytes() == b"WAV"


def test_a_cancel_that_reaches_another_replica_is_carried_out_by_the_owner(
    store: Store, tmp_path: Path
) -> None:
    async def body() -> None:
        script = Script()
        script.gate("gate")
        owner = RunService(store, tmp_path / "a", registry=registry_with(script), owner="replica-a")
        await owner.start()
        run_id = await held_at_gate(owner, script)
        other = RunService(store, tmp_path / "b", registry=registry_with(Script()), owner="replica-b")
        assert await other.request_cancel(run_id) == "requested"
        final = await other.wait(run_id)  # followed through the store, as a client of replica-b would
        assert final.status == "cancelled" and "gate" in script.cancelled
        assert await other.request_cancel(run_id) == "finished"
        await owner.close()
        await other.close()

    arun(body)


def test_an_orphan_with_a_cancel_request_is_cancelled_not_resumed(store: Store, tmp_path: Path) -> None:
    async def body() -> None:
        run_id = await interrupted_at_gate(store, tmp_path)
        assert store.request_cancel(run_id)
        script = Script()
        second = service_on(store, tmp_path, script)
        await second.start()
        got = await second.get_run(run_id)
        assert (got.status, got.error) == ("cancelled", "cancelled") and not script.calls
        await second.close()

    arun(body)


def test_a_server_stops_a_run_another_server_adopted(store: Store, tmp_path: Path) -> None:
    async def body() -> None:
        script = Script()
        script.gate("gate")
        late = service_on(store, tmp_path, script)
        await late.start(adopt=False)
        run_id = await held_at_gate(late, script)
        seen = store.get_run(run_id)
        assert seen is not None and store.claim_run(seen, "faster-replica") is not None
        await script.cancelled_event("gate").wait()  # its watch finds the run gone
        await late.close()
        got = store.get_run(run_id)
        assert got is not None and (got.status, got.owner) == ("running", "faster-replica")
        assert {e.type for e in store.run_events(run_id)} == {
            "run_started",
            "node_started",
            "node_output",
            "node_finished",
        }

    arun(body)

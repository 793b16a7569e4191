"""Workflow versions, runs, events and artefacts in the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deepfort.store import Store
from deepfort.store.workflows import EventRow


def test_publish_is_immutable_and_versions_changed_content(store: Store) -> None:
    first, created = store.publish_workflow("story", "d1", '{"a":1}')
    assert created and first.version == 1
    again, created = store.publish_workflow("story", "d1", '{"a":1}')
    assert not created and again.id == first.id
    second, created = store.publish_workflow("story", "d2", '{"a":2}')
    assert created and second.version == 2
    assert store.find_workflow("story") == second
    assert store.find_workflow("story", 1) == first
    assert store.get_workflow(first.id) == first
    assert [w.version for w in store.list_workflows()] == [2, 1]


def test_run_roundtrip_events_and_finish(store: Store) -> None:
    workflow, _ = store.publish_workflow("story", "d1", "{}")
    run, created = store.create_run(workflow, {"text": "你好"}, "alice")
    assert created and run.status == "running" and run.inputs == {"text": "你好"}
    store.append_run_events(run.id, [EventRow(1, "run_started", {"seq": 1}), EventRow(2, "node_output", {})])
    store.append_run_events(
        run.id, [EventRow(3, "run_finished", {"status": "succeeded", "outputs": {"x": "y"}, "error": None})]
    )
    got = store.get_run(run.id)
    assert got is not None and got.status == "succeeded" and got.outputs == {"x": "y"}
    assert got.finished_at is not None
    assert [e.seq for e in store.run_events(run.id)] == [1, 2, 3]
    assert [e.type for e in store.run_events(run.id, after=1)] == ["node_output", "run_finished"]
    assert store.run_events(run.id)[-1].seq == 3
    assert store.orphaned_runs("anyone", datetime.now(UTC) + timedelta(hours=1), own=True) == []


def test_idempotency_key_is_per_owner(store: Store) -> None:
    workflow, _ = store.publish_workflow("story", "d1", "{}")
    one, created = store.create_run(workflow, {}, "alice", idempotency_key="k")
    same, again = store.create_run(workflow, {"other": 1}, "alice", idempotency_key="k")
    bob, bob_created = store.create_run(workflow, {}, "bob", idempotency_key="k")
    assert created and not again and same.id == one.id and same.inputs == {}
    assert bob_created and bob.id != one.id
    assert [r.id for r in store.list_runs("alice")] == [one.id]
    assert len(store.list_runs()) == 2


def test_artefact_keeps_its_first_record(store: Store) -> None:
    workflow, _ = store.publish_workflow("story", "d1", "{}")
    run, _ = store.create_run(workflow, {}, "alice")
    row = store.add_artefact("ab" * 32, "/x/ab", "video/mp4", 10, run.id, "video")
    assert store.add_artefact("ab" * 32, "/y", "text/plain", 10, None, None) == row
    assert store.get_artefact("ab" * 32) == row
    assert store.run_artefacts(run.id) == [row]
    assert store.get_artefact("cd" * 32) is None


def test_the_same_file_made_by_two_runs_belongs_to_both(store: Store) -> None:
    workflow, _ = store.publish_workflow("story", "d1", "{}")
    alice, _ = store.create_run(workflow, {}, "alice")
    bob, _ = store.create_run(workflow, {}, "bob")
    row = store.add_artefact("ab" * 32, "/x/ab.png", "image/png", 10, alice.id, "card")
    assert store.add_artefact("ab" * 32, "/x/ab.png", "image/png", 10, bob.id, "card") == row
    store.add_artefact("ab" * 32, "/x/ab.png", "image/png", 10, bob.id, "card")  # made again: one use
    assert store.artefact_key_ids("ab" * 32) == {"alice", "bob"}
    assert store.run_artefacts(bob.id) == [row] == store.run_artefacts(alice.id)
    store.add_artefact("cd" * 32, "/x/cd", "text/plain", 1, None, None)
    assert store.artefact_key_ids("cd" * 32) is None


def test_owners_heartbeats_and_one_claim_per_orphan(store: Store) -> None:
    workflow, _ = store.publish_workflow("story", "d1", "{}")
    mine, _ = store.create_run(workflow, {}, "alice", owner="me")
    theirs, _ = store.create_run(workflow, {}, "alice", owner="them")
    legacy, _ = store.create_run(workflow, {}, "alice")  # a run from before owners: adoptable by anyone
    assert (mine.owner, mine.resumes) == ("me", 0) and mine.heartbeat_at is not None
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    assert {r.id for r in store.orphaned_runs("me", long_ago, own=False)} == {legacy.id}
    assert {r.id for r in store.orphaned_runs("me", long_ago, own=True)} == {legacy.id, mine.id}
    later = datetime.now(UTC) + timedelta(hours=1)  # every heartbeat is older than this
    assert {r.id for r in store.orphaned_runs("me", later, own=False)} == {mine.id, theirs.id, legacy.id}
    assert store.heartbeat_runs("them") == 1

    claimed = store.claim_run(theirs, "me")
    assert claimed is not None and (claimed.owner, claimed.resumes) == ("me", 1)
    assert store.claim_run(theirs, "someone-else") is None  # claimed already: the stale view loses
    assert store.claim_run(legacy, "me") is not None and store.claim_run(legacy, "you") is None
    store.append_run_events(mine.id, [EventRow(1, "run_finished", {"status": "failed", "outputs": {}})])
    assert store.claim_run(mine, "me") is None  # finished runs are nobody's to adopt
    assert store.heartbeat_runs("me") == 2

"""The run service: publish workflow versions, start runs (idempotently) on the in-process executor,
persist their events, follow them, cancel them, and on start mark runs a crash left `running` as failed.

    service = RunService(store, data_dir)
    await service.start()                          # recovery
    workflow, created = await service.publish(yaml_text)
    run, created = await service.start_run(workflow.id, {"text": "..."}, key_id="alice")
    async for event in service.follow(run.id, after=0): ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepfort.aigc.runs.artefacts import ArtefactStore
from deepfort.aigc.runs.recorder import RunRecorder
from deepfort.aigc.workflow import NodeRegistry, WorkflowVersion, bind_inputs, default_registry, load_workflow
from deepfort.aigc.workflow.executor import Executor, RunHandle
from deepfort.errors import NotFoundError
from deepfort.store import Store
from deepfort.store.workflows import ArtefactRow, EventRow, RunRow, WorkflowRow

log = logging.getLogger(__name__)
INTERRUPTED = "interrupted by a restart"
POLL_S = 1.0
"""How often a follower re-reads the store when no local write woke it (a run on another replica)."""


@dataclass
class _Live:
    handle: RunHandle
    recorder: RunRecorder


def recover(store: Store) -> list[str]:
    """Mark every `running` run failed with a final `run_finished` event; returns their ids. Events
    already written (finished nodes' outputs among them) stay."""
    recovered = []
    for run in store.running_runs():
        seq = store.last_event_seq(run.id) + 1
        body = {
            "run_id": run.id,
            "seq": seq,
            "type": "run_finished",
            "status": "failed",
            "outputs": {},
            "error": INTERRUPTED,
        }
        store.append_run_events(run.id, [EventRow(seq, "run_finished", body)])
        recovered.append(run.id)
    return recovered


class RunService:
    def __init__(
        self,
        store: Store,
        data_dir: Path,
        registry: NodeRegistry | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.store = store
        self.registry = registry or default_registry()
        self.executor = executor or Executor(self.registry)
        self.artefacts = ArtefactStore(store, data_dir / "artefacts")
        self._live: dict[str, _Live] = {}
        self._versions: dict[str, WorkflowVersion] = {}

    async def start(self) -> None:
        recovered = await asyncio.to_thread(recover, self.store)
        if recovered:
            log.warning(
                "marked %d interrupted workflow runs failed: %s", len(recovered), ", ".join(recovered)
            )

    async def close(self) -> None:
        live = list(self._live.values())
        for run in live:
            run.handle.cancel()
        await asyncio.gather(*(run.recorder.task for run in live), return_exceptions=True)

    # Workflows

    async def publish(self, text: str) -> tuple[WorkflowRow, bool]:
        """Check the document (raising `WorkflowValidationError` with every problem) and publish it."""
        version = load_workflow(text, self.registry)
        row, created = await asyncio.to_thread(
            self.store.publish_workflow, version.workflow.name, version.digest, version.canonical
        )
        self._versions[row.digest] = version
        return row, created

    async def list_workflows(self) -> list[WorkflowRow]:
        return await asyncio.to_thread(self.store.list_workflows)

    async def workflow(self, ref: str) -> WorkflowRow:
        """A workflow by id, or by `name` / `name@version` (the latest version when none is given)."""
        row = await asyncio.to_thread(self.store.get_workflow, ref)
        if row is None:
            name, _, number = ref.partition("@")
            version = int(number) if number.isdigit() else None
            row = await asyncio.to_thread(self.store.find_workflow, name, version)
        if row is None:
            raise NotFoundError(f"no workflow {ref!r}", param="workflow_id")
        return row

    def version_of(self, row: WorkflowRow) -> WorkflowVersion:
        version = self._versions.get(row.digest)
        if version is None:
            version = self._versions[row.digest] = load_workflow(row.canonical, self.registry)
        return version

    # Runs

    async def start_run(
        self,
        workflow_id: str,
        inputs: Mapping[str, Any],
        *,
        key_id: str,
        idempotency_key: str | None = None,
    ) -> tuple[RunRow, bool]:
        """Start a run, or return the owner's run under the same idempotency key (and False)."""
        row = await self.workflow(workflow_id)
        version = self.version_of(row)
        bound = bind_inputs(version.workflow, inputs)  # bad inputs fail before a run exists
        run, created = await asyncio.to_thread(self.store.create_run, row, bound, key_id, idempotency_key)
        if not created:
            return run, False
        recorder = RunRecorder(self.store, run.id)
        handle = self.executor.start(version, bound, run_id=run.id, listeners=[recorder])
        live = self._live[run.id] = _Live(handle, recorder)
        recorder.task.add_done_callback(lambda _: self._forget(run.id, live))
        return run, True

    def _forget(self, run_id: str, live: _Live) -> None:
        if self._live.get(run_id) is live:
            del self._live[run_id]

    async def get_run(self, run_id: str, key_id: str | None = None) -> RunRow:
        """The run; NotFound when it does not exist or (with ``key_id``) belongs to another key."""
        run = await asyncio.to_thread(self.store.get_run, run_id)
        if run is None or (key_id is not None and run.key_id != key_id):
            raise NotFoundError(f"no run {run_id!r}", param="run_id")
        return run

    async def list_runs(self, key_id: str | None = None, limit: int = 50) -> list[RunRow]:
        return await asyncio.to_thread(self.store.list_runs, key_id, limit)

    async def wait(self, run_id: str) -> RunRow:
        """The run once finished and persisted."""
        async for _ in self.follow(run_id):
            pass
        return await self.get_run(run_id)

    def cancel(self, run_id: str) -> bool:
        """Cancel a run in progress here; False when it is not running in this process."""
        live = self._live.get(run_id)
        if live is None or live.handle.finished:
            return False
        live.handle.cancel()
        return True

    async def store_run(self, run_id: str) -> RunRow | None:
        return await asyncio.to_thread(self.store.get_run, run_id)

    async def artefact(self, sha256: str) -> tuple[ArtefactRow, Path] | None:
        return await asyncio.to_thread(self.artefacts.get, sha256)

    async def node_outputs(self, run_id: str) -> dict[str, Any]:
        """Each node's last output, from the persisted `node_output` events."""
        events = await asyncio.to_thread(self.store.run_events, run_id)
        return {e.body["node_id"]: e.body["output"] for e in events if e.type == "node_output"}

    async def follow(self, run_id: str, after: int = 0) -> AsyncIterator[EventRow]:
        """The run's events with ``seq > after``: first those already persisted, then new ones as they are
        written, ending with `run_finished`. Every event comes once, in order."""
        while True:
            live = self._live.get(run_id)
            written = live.recorder.written if live is not None else None
            rows = await asyncio.to_thread(self.store.run_events, run_id, after)
            for row in rows:
                yield row
                after = row.seq
                if row.type == "run_finished":
                    return
            if not rows:
                if live is None:
                    run = await asyncio.to_thread(self.store.get_run, run_id)
                    if run is None or run.status != "running":
                        return
                if written is None:
                    await asyncio.sleep(POLL_S)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(written.wait(), POLL_S)


def run_record(run: RunRow, workflow: WorkflowRow | None = None) -> dict[str, Any]:
    """A run as the API and `--json` show it."""
    return {
        "id": run.id,
        "object": "workflow.run",
        "workflow_id": run.workflow_id,
        "workflow": workflow.name if workflow is not None else None,
        "version": run.version,
        "status": run.status,
        "inputs": run.inputs,
        "outputs": run.outputs,
        "error": run.error,
        "created_at": int(run.created_at.timestamp()),
        "finished_at": int(run.finished_at.timestamp()) if run.finished_at else None,
    }


def workflow_record(row: WorkflowRow, *, with_definition: bool = False) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": row.id,
        "object": "workflow",
        "name": row.name,
        "version": row.version,
        "digest": row.digest,
        "created_at": int(row.created_at.timestamp()),
    }
    if with_definition:
        record["definition"] = json.loads(row.canonical)
    return record

"""The run service: publish workflow versions, start runs (idempotently) on the in-process executor,
persist their events, follow them, cancel them, and take care of runs a crash interrupted.

    service = RunService(store, data_dir, settings=settings.workflows)
    await service.start()                          # recovery, then the heartbeat
    workflow, created = await service.publish(yaml_text)
    run, created = await service.start_run(workflow.id, {"text": "..."}, key_id="alice")
    async for event in service.follow(run.id, after=0): ...

Each run records its owner (this server's instance id, `owner.py`) and a heartbeat renewed every third of
`lease_s`. A run left `running` by a crash is adopted at start-up when it was this instance's own, and by
any server sharing the database once its heartbeat is older than the lease. Adopting closes the attempts
the crash cut off (`node_failed`, `interrupted`), then either resumes the run from its finished nodes
(`recovery: resume`, at most `max_resumes` times; the interrupted nodes run again) or marks it failed.
Stopping the server interrupts its runs the same way, so a restart resumes them. A cancel that reaches a
server other than the run's owner is left in the store (`cancel_requested`) for the owner to act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from deepfort.aigc.runs.artefacts import ArtefactStore
from deepfort.aigc.runs.owner import InstanceId, claim_instance_id
from deepfort.aigc.runs.recorder import RunRecorder, event_row
from deepfort.aigc.workflow import NodeRegistry, WorkflowVersion, bind_inputs, default_registry, load_workflow
from deepfort.aigc.workflow.events import NodeFailed, RunFinished, RunStatus
from deepfort.aigc.workflow.executor import Executor, Resume, RunHandle
from deepfort.aigc.workflow.nodes.base import NodeResult
from deepfort.config import WorkflowSettings
from deepfort.errors import DeepfortError, NotFoundError
from deepfort.store import Store
from deepfort.store.workflows import ArtefactRow, EventRow, RunRow, WorkflowRow

log = logging.getLogger(__name__)
INTERRUPTED = "interrupted by a restart"
POLL_S = 1.0
"""How often a follower re-reads the store when no local write woke it (a run on another replica), and how
often a server with runs in progress looks for cancel requests that reached another replica."""


@dataclass
class _Live:
    handle: RunHandle
    recorder: RunRecorder

    def interrupt(self) -> None:
        """Stop the run here and write nothing more of it: it stays `running` for a server to adopt."""
        self.recorder.detach()
        self.handle.cancel()


@dataclass(frozen=True)
class Interruption:
    """What a crash left of a run: the events closing its open attempts, where its sequence stands, and
    the top-level nodes that finished (their last output and the successors they switched off)."""

    closing: list[EventRow]
    last_seq: int
    steps: int
    finished: dict[str, NodeResult]


def interruption(run_id: str, events: Sequence[EventRow]) -> Interruption:
    """Read a run's persisted events: every attempt started without a terminal event gets a
    `node_failed` marked `interrupted`."""
    open_attempts: dict[str, int] = {}
    outputs: dict[str, tuple[dict[str, Any], list[str]]] = {}
    finished: dict[str, NodeResult] = {}
    steps = 0
    for event in events:
        node_id = str(event.body.get("node_id", ""))
        if event.type == "node_started":
            open_attempts[node_id] = int(event.body.get("attempt", 1))
            steps += 1
        elif event.type == "node_output":
            outputs[node_id] = (dict(event.body["output"]), list(event.body.get("skip") or []))
        elif event.type in ("node_finished", "node_failed"):
            open_attempts.pop(node_id, None)
            if event.type == "node_finished" and node_id in outputs and "[" not in node_id:
                output, skip = outputs[node_id]
                finished[node_id] = NodeResult(output, skip=frozenset(skip))
            else:
                finished.pop(node_id, None)
    seq = max((event.seq for event in events), default=0)
    closing = []
    for node_id, attempt in open_attempts.items():
        seq += 1
        cut = NodeFailed(
            run_id=run_id,
            seq=seq,
            node_id=node_id,
            error=INTERRUPTED,
            attempt=attempt,
            will_retry=False,
            interrupted=True,
        )
        closing.append(event_row(cut))
    return Interruption(closing, seq, steps, finished)


class RunService:
    def __init__(
        self,
        store: Store,
        data_dir: Path,
        registry: NodeRegistry | None = None,
        executor: Executor | None = None,
        settings: WorkflowSettings | None = None,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.settings = settings or WorkflowSettings()
        self.registry = registry or default_registry()
        self.executor = executor or Executor(
            self.registry,
            max_concurrency=self.settings.max_concurrency,
            heavy_concurrency=self.settings.heavy_concurrency,
            step_limit=self.settings.step_limit,
            deadline_s=self.settings.deadline_s,
        )
        self.artefacts = ArtefactStore(store, data_dir / "artefacts")
        self._owner = owner
        self._instance: InstanceId | None = None
        self._live: dict[str, _Live] = {}
        self._versions: dict[str, WorkflowVersion] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None

    @property
    def owner(self) -> str:
        """This server's instance id (claimed at `start`, or given)."""
        if self._owner is None:
            self._instance = claim_instance_id(self.data_dir)
            self._owner = self._instance.value
        return self._owner

    async def start(self, *, adopt: bool = True) -> None:
        """Adopt this instance's interrupted runs and stale ones (unless ``adopt`` is False: a one-off
        `deepfort workflow run`), then keep the heartbeat of this instance's runs going."""
        if adopt:
            await self.adopt(own=True)
        self._heartbeat = asyncio.create_task(self._beat(adopt))
        self._watch = asyncio.create_task(self._watch_owned())

    async def close(self, *, interrupt: bool = True) -> None:
        """Stop. Runs still in progress are interrupted, not finished, so that a restart resumes them; with
        ``interrupt=False`` they are cancelled (`deepfort workflow run` on Ctrl-C)."""
        tasks = [task for task in (self._heartbeat, self._watch) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        live = list(self._live.values())
        for run in live:
            if interrupt:
                run.interrupt()
            else:
                run.handle.cancel()
        await asyncio.gather(*(run.recorder.task for run in live), return_exceptions=True)
        if self._instance is not None:
            self._instance.release()

    async def _beat(self, adopt: bool) -> None:
        interval = self.settings.lease_s / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.store.heartbeat_runs, self.owner)
                if adopt:
                    await self.adopt(own=False)
            except Exception:  # a database hiccup must not end the heartbeat
                log.exception("workflow run heartbeat failed")

    async def _watch_owned(self) -> None:
        """While runs are in progress here, read what the store says of them: cancel those another server
        was asked to cancel, and stop (writing nothing) those another server adopted after this one
        stalled for longer than the lease, since two servers must not execute one run."""
        while True:
            await asyncio.sleep(POLL_S)
            if not self._live:
                continue
            try:
                owned = await asyncio.to_thread(self.store.owned_runs, self.owner)
            except Exception:
                log.exception("reading this server's workflow runs failed")
                continue
            for run_id, live in list(self._live.items()):
                if live.handle.finished:
                    continue
                if run_id not in owned:
                    log.warning("workflow run %s was adopted by another server; stopping it here", run_id)
                    live.interrupt()
                elif owned[run_id]:
                    live.handle.cancel()

    async def adopt(self, *, own: bool) -> list[str]:
        """Take over the orphaned runs (with ``own``, also this instance's runs from before a restart) and
        resume or fail each; returns their ids."""
        stale_before = datetime.now(UTC) - timedelta(seconds=self.settings.lease_s)
        orphans = await asyncio.to_thread(self.store.orphaned_runs, self.owner, stale_before, own=own)
        adopted = []
        for run in orphans:
            if run.id in self._live:
                continue
            claimed = await asyncio.to_thread(self.store.claim_run, run, self.owner)
            if claimed is None:
                continue
            adopted.append(run.id)
            try:
                outcome = await self._recover(claimed)
            except Exception:  # one damaged run must not keep the server from starting
                log.exception("workflow run %s could not be recovered", run.id)
                continue
            log.warning("workflow run %s (owner %s) was interrupted: %s", run.id, run.owner, outcome)
        return adopted

    async def _recover(self, run: RunRow) -> str:
        events = await asyncio.to_thread(self.store.run_events, run.id)
        cut = interruption(run.id, events)
        ending: tuple[RunStatus, str] | None = None
        version: WorkflowVersion | None = None
        if run.cancel_requested:
            ending = ("cancelled", "cancelled")
        elif self.settings.recovery == "fail":
            ending = ("failed", INTERRUPTED)
        elif run.resumes > self.settings.max_resumes:
            ending = ("failed", f"{INTERRUPTED}; not resumed again after {self.settings.max_resumes} resumes")
        else:
            try:
                version = self.version_of(await self.workflow(run.workflow_id))
                bind_inputs(version.workflow, run.inputs)
            except (DeepfortError, ValueError) as exc:
                ending = ("failed", f"{INTERRUPTED}; cannot resume: {exc}")
        if ending is not None or version is None:
            status, error = ending or ("failed", INTERRUPTED)
            final = RunFinished(run_id=run.id, seq=cut.last_seq + 1, status=status, outputs={}, error=error)
            await asyncio.to_thread(self.store.append_run_events, run.id, [*cut.closing, event_row(final)])
            return f"finished {status}"
        await asyncio.to_thread(self.store.append_run_events, run.id, cut.closing)
        elapsed = (datetime.now(UTC) - run.created_at).total_seconds()
        resume = Resume(cut.last_seq, cut.steps, cut.finished, run.resumes, elapsed_s=elapsed)
        self._launch(run.id, version, run.inputs, resume)
        return f"resumed ({run.resumes} of at most {self.settings.max_resumes})"

    def _launch(
        self, run_id: str, version: WorkflowVersion, inputs: Mapping[str, Any], resume: Resume | None = None
    ) -> None:
        recorder = RunRecorder(self.store, run_id)
        handle = self.executor.start(version, inputs, run_id=run_id, listeners=[recorder], resume=resume)
        live = self._live[run_id] = _Live(handle, recorder)
        recorder.task.add_done_callback(lambda _: self._forget(run_id, live))

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
        run, created = await asyncio.to_thread(
            self.store.create_run, row, bound, key_id, idempotency_key, owner=self.owner
        )
        if not created:
            return run, False
        self._launch(run.id, version, bound)
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

    async def request_cancel(self, run_id: str) -> Literal["here", "requested", "finished"]:
        """Cancel the run here when it runs here, else ask its owner through the store."""
        if self.cancel(run_id):
            return "here"
        if await asyncio.to_thread(self.store.request_cancel, run_id):
            return "requested"
        return "finished"

    async def artefact_key_ids(self, sha256: str) -> set[str] | None:
        """The keys whose runs made the artefact (None: no run recorded, e.g. stored by hand)."""
        return await asyncio.to_thread(self.store.artefact_key_ids, sha256)

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
        "resumes": run.resumes,
        "cancel_requested": run.cancel_requested,
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

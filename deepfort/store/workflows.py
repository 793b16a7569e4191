"""Workflow versions, their runs, the runs' events and artefacts.

A published version is immutable: publishing the same content under a name returns the version already
there; changed content becomes the next version. A run's events are appended in ``seq`` order by the run's
persistence listener; the ``run_finished`` event and the run's final status are written together.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from deepfort.store.base import StoreCore, rowcount
from deepfort.store.models import Artefact, ArtefactUse, WorkflowRecord, WorkflowRun, WorkflowRunEvent


@dataclass(frozen=True, slots=True)
class WorkflowRow:
    id: str
    name: str
    version: int
    digest: str
    canonical: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RunRow:
    id: str
    workflow_id: str
    version: int
    key_id: str
    idempotency_key: str | None
    status: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    owner: str | None = None
    heartbeat_at: datetime | None = None
    resumes: int = 0
    cancel_requested: bool = False


@dataclass(frozen=True, slots=True)
class EventRow:
    seq: int
    type: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ArtefactRow:
    id: str
    path: str
    mime: str
    size: int
    run_id: str | None
    node_id: str | None
    created_at: datetime


def _workflow(row: WorkflowRecord) -> WorkflowRow:
    return WorkflowRow(row.id, row.name, row.version, row.digest, row.canonical, row.created_at)


def _run(row: WorkflowRun) -> RunRow:
    return RunRow(
        row.id,
        row.workflow_id,
        row.version,
        row.key_id,
        row.idempotency_key,
        row.status,
        dict(row.inputs),
        None if row.outputs is None else dict(row.outputs),
        row.error,
        row.created_at,
        row.finished_at,
        row.owner,
        row.heartbeat_at,
        row.resumes or 0,
        bool(row.cancel_requested),
    )


def _artefact(row: Artefact) -> ArtefactRow:
    return ArtefactRow(row.id, row.path, row.mime, row.size, row.run_id, row.node_id, row.created_at)


class WorkflowMethods(StoreCore):
    def publish_workflow(self, name: str, digest: str, canonical: str) -> tuple[WorkflowRow, bool]:
        """The version holding this content (and False), or a new version after the latest (and True)."""
        for _ in range(3):  # two publishers racing for the same next version: the loser tries again
            try:
                with self._writing() as session:
                    latest = session.scalars(
                        select(WorkflowRecord)
                        .where(WorkflowRecord.name == name)
                        .order_by(WorkflowRecord.version.desc())
                        .limit(1)
                    ).one_or_none()
                    if latest is not None and latest.digest == digest:
                        return _workflow(latest), False
                    row = WorkflowRecord(
                        id=str(uuid.uuid4()),
                        name=name,
                        version=1 if latest is None else latest.version + 1,
                        digest=digest,
                        canonical=canonical,
                        created_at=self._clock(),
                    )
                    session.add(row)
                return _workflow(row), True
            except IntegrityError:
                continue
        raise RuntimeError(f"could not publish workflow {name!r}: concurrent publishers kept winning")

    def get_workflow(self, workflow_id: str) -> WorkflowRow | None:
        with self._reading() as session:
            row = session.get(WorkflowRecord, workflow_id)
        return None if row is None else _workflow(row)

    def find_workflow(self, name: str, version: int | None = None) -> WorkflowRow | None:
        """A version of the workflow called ``name``; the latest when ``version`` is None."""
        query = select(WorkflowRecord).where(WorkflowRecord.name == name)
        if version is not None:
            query = query.where(WorkflowRecord.version == version)
        with self._reading() as session:
            row = session.scalars(query.order_by(WorkflowRecord.version.desc()).limit(1)).one_or_none()
        return None if row is None else _workflow(row)

    def list_workflows(self, limit: int = 100) -> list[WorkflowRow]:
        with self._reading() as session:
            rows = session.scalars(
                select(WorkflowRecord)
                .order_by(WorkflowRecord.name, WorkflowRecord.version.desc())
                .limit(limit)
            ).all()
        return [_workflow(row) for row in rows]

    def create_run(
        self,
        workflow: WorkflowRow,
        inputs: dict[str, Any],
        key_id: str,
        idempotency_key: str | None = None,
        run_id: str | None = None,
        owner: str | None = None,
    ) -> tuple[RunRow, bool]:
        """A new `running` run (and True), or the key's run under the same idempotency key (and False).
        ``owner`` is the server instance that executes it."""
        if idempotency_key is not None:
            existing = self._idempotent_run(key_id, idempotency_key)
            if existing is not None:
                return existing, False
        row = WorkflowRun(
            id=run_id or str(uuid.uuid4()),
            workflow_id=workflow.id,
            version=workflow.version,
            key_id=key_id,
            idempotency_key=idempotency_key,
            status="running",
            inputs=inputs,
            created_at=self._clock(),
            owner=owner,
            heartbeat_at=self._clock(),
            resumes=0,
            cancel_requested=False,
        )
        try:
            with self._writing() as session:
                session.add(row)
        except IntegrityError:
            if idempotency_key is None:
                raise
            existing = self._idempotent_run(key_id, idempotency_key)
            if existing is None:
                raise
            return existing, False
        return _run(row), True

    def _idempotent_run(self, key_id: str, idempotency_key: str) -> RunRow | None:
        with self._reading() as session:
            row = session.scalars(
                select(WorkflowRun).where(
                    WorkflowRun.key_id == key_id, WorkflowRun.idempotency_key == idempotency_key
                )
            ).one_or_none()
        return None if row is None else _run(row)

    def get_run(self, run_id: str) -> RunRow | None:
        with self._reading() as session:
            row = session.get(WorkflowRun, run_id)
        return None if row is None else _run(row)

    def list_runs(self, key_id: str | None = None, limit: int = 50) -> list[RunRow]:
        """Newest first; only ``key_id``'s runs unless it is None."""
        query = select(WorkflowRun)
        if key_id is not None:
            query = query.where(WorkflowRun.key_id == key_id)
        with self._reading() as session:
            rows = session.scalars(query.order_by(WorkflowRun.created_at.desc()).limit(limit)).all()
        return [_run(row) for row in rows]

    def heartbeat_runs(self, owner: str) -> int:
        """Renew the heartbeat of ``owner``'s running runs; returns how many."""
        statement = (
            update(WorkflowRun)
            .where(WorkflowRun.status == "running", WorkflowRun.owner == owner)
            .values(heartbeat_at=self._clock())
        )
        with self._writing() as session:
            return rowcount(session, statement)

    def request_cancel(self, run_id: str) -> bool:
        """Ask the run's owner to cancel it; False when it is not running."""
        statement = (
            update(WorkflowRun)
            .where(WorkflowRun.id == run_id, WorkflowRun.status == "running")
            .values(cancel_requested=True)
        )
        with self._writing() as session:
            return rowcount(session, statement) == 1

    def owned_runs(self, owner: str) -> dict[str, bool]:
        """``owner``'s running runs: id -> whether another server was asked to cancel it."""
        query = select(WorkflowRun.id, WorkflowRun.cancel_requested).where(
            WorkflowRun.status == "running", WorkflowRun.owner == owner
        )
        with self._reading() as session:
            rows = session.execute(query).all()
        return {run_id: bool(cancel) for run_id, cancel in rows}

    def orphaned_runs(self, owner: str, stale_before: datetime, *, own: bool) -> list[RunRow]:
        """Running runs nobody keeps alive: no owner, or a heartbeat older than ``stale_before``; with
        ``own`` also every run ``owner`` holds (a restarted instance's runs from before its crash)."""
        orphaned = or_(
            WorkflowRun.owner.is_(None),
            WorkflowRun.heartbeat_at.is_(None),
            WorkflowRun.heartbeat_at < stale_before,
        )
        if own:
            orphaned = or_(orphaned, WorkflowRun.owner == owner)
        query = select(WorkflowRun).where(WorkflowRun.status == "running", orphaned)
        with self._reading() as session:
            rows = session.scalars(query.order_by(WorkflowRun.created_at)).all()
        return [_run(row) for row in rows]

    def claim_run(self, run: RunRow, owner: str) -> RunRow | None:
        """Take over an orphaned run for ``owner`` and count a resume; None when it finished meanwhile or
        another instance claimed it first (its owner is no longer the one ``run`` saw)."""
        statement = (
            update(WorkflowRun)
            .where(
                WorkflowRun.id == run.id,
                WorkflowRun.status == "running",
                WorkflowRun.owner.is_not_distinct_from(run.owner),
                WorkflowRun.resumes == run.resumes,
            )
            .values(owner=owner, heartbeat_at=self._clock(), resumes=run.resumes + 1)
        )
        with self._writing() as session:
            claimed = rowcount(session, statement) == 1
        if not claimed:
            return None
        return self.get_run(run.id)

    def append_run_events(self, run_id: str, events: Sequence[EventRow]) -> None:
        """Append events; a `run_finished` among them also sets the run's status, outputs and error."""
        with self._writing() as session:
            for event in events:
                session.add(WorkflowRunEvent(run_id=run_id, seq=event.seq, type=event.type, body=event.body))
                if event.type == "run_finished":
                    session.execute(
                        update(WorkflowRun)
                        .where(WorkflowRun.id == run_id)
                        .values(
                            status=event.body["status"],
                            outputs=event.body.get("outputs") or {},
                            error=event.body.get("error"),
                            finished_at=self._clock(),
                        )
                    )

    def run_events(self, run_id: str, after: int = 0) -> list[EventRow]:
        with self._reading() as session:
            rows = session.scalars(
                select(WorkflowRunEvent)
                .where(WorkflowRunEvent.run_id == run_id, WorkflowRunEvent.seq > after)
                .order_by(WorkflowRunEvent.seq)
            ).all()
        return [EventRow(row.seq, row.type, dict(row.body)) for row in rows]

    def add_artefact(
        self, sha256: str, path: str, mime: str, size: int, run_id: str | None, node_id: str | None
    ) -> ArtefactRow:
        """Record a file by its sha256 (the same content stored again keeps its first record) and, with
        ``run_id``, that this run's node made it."""
        row = self.get_artefact(sha256)
        if row is None:
            record = Artefact(
                id=sha256,
                path=path,
                mime=mime,
                size=size,
                run_id=run_id,
                node_id=node_id,
                created_at=self._clock(),
            )
            try:
                with self._writing() as session:
                    session.add(record)
                row = _artefact(record)
            except IntegrityError:  # another writer recorded the same content first
                row = self.get_artefact(sha256)
                if row is None:
                    raise
        if run_id is not None:
            self._add_artefact_use(sha256, run_id, node_id or "")
        return row

    def _add_artefact_use(self, sha256: str, run_id: str, node_id: str) -> None:
        use = ArtefactUse(artefact_id=sha256, run_id=run_id, node_id=node_id, created_at=self._clock())
        # IntegrityError: recorded already (a node run again after a resume)
        with contextlib.suppress(IntegrityError), self._writing() as session:
            session.add(use)

    def get_artefact(self, sha256: str) -> ArtefactRow | None:
        with self._reading() as session:
            row = session.get(Artefact, sha256)
        return None if row is None else _artefact(row)

    def artefact_key_ids(self, sha256: str) -> set[str] | None:
        """The API keys whose runs made this artefact; None when no run is recorded for it."""
        with self._reading() as session:
            keys = session.scalars(
                select(WorkflowRun.key_id)
                .join(ArtefactUse, ArtefactUse.run_id == WorkflowRun.id)
                .where(ArtefactUse.artefact_id == sha256)
            ).all()
        return set(keys) or None

    def run_artefacts(self, run_id: str) -> list[ArtefactRow]:
        """The artefacts this run's nodes made, the same file made again by another run included."""
        with self._reading() as session:
            rows = session.scalars(
                select(Artefact)
                .join(ArtefactUse, ArtefactUse.artefact_id == Artefact.id)
                .where(ArtefactUse.run_id == run_id)
                .distinct()
                .order_by(Artefact.created_at)
            ).all()
        return [_artefact(row) for row in rows]

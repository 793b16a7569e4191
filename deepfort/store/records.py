"""Request records (usage, reports) and audit entries: append and read, nothing sealed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from deepfort.store.base import StoreCore
from deepfort.store.errors import RowExistsError
from deepfort.store.models import AuditEntry, RequestRecord
from deepfort.store.views import AuditRow, RequestRecordRow

AUDIT_PAGE = 1000


class RecordMethods(StoreCore):
    def add_request_record(
        self,
        *,
        id: str,
        model: str,
        status: int,
        latency_ms: float,
        key_id: str | None = None,
        tier: str | None = None,
        route_reason: str | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        finish_reason: str | None = None,
        ttft_ms: float | None = None,
        created_at: datetime | None = None,
    ) -> RequestRecordRow:
        """Record one served request (``id`` is its request id); :class:`RowExistsError` if recorded."""
        row = RequestRecord(
            id=id,
            key_id=key_id,
            model=model,
            tier=tier,
            route_reason=route_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            status=status,
            finish_reason=finish_reason,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            created_at=created_at or self._clock(),
        )
        try:
            with self._writing() as session:
                session.add(row)
                session.flush()
        except IntegrityError as exc:
            raise RowExistsError(f"request_records: request {id!r} is recorded already", exc) from exc
        return _record_view(row)

    def list_request_records(self, limit: int = 100, since: datetime | None = None) -> list[RequestRecordRow]:
        """The newest ``limit`` records, created at or after ``since`` if given; newest first."""
        statement = select(RequestRecord).order_by(RequestRecord.created_at.desc(), RequestRecord.id.desc())
        if since is not None:
            statement = statement.where(RequestRecord.created_at >= since)
        with self._reading() as session:
            return [_record_view(row) for row in session.scalars(statement.limit(limit))]

    def append_audit(
        self,
        seq: int,
        ts: datetime,
        actor: str,
        action: str,
        detail: str,
        prev_hash: str,
        hash: str,
    ) -> None:
        """Append one entry. :class:`RowExistsError` if ``seq`` is taken: another appender got there first;
        read :meth:`last_audit` again, rebuild the entry on it and retry."""
        row = AuditEntry(
            seq=seq, ts=ts, actor=actor, action=action, detail=detail, prev_hash=prev_hash, hash=hash
        )
        try:
            with self._writing() as session:
                session.add(row)
                session.flush()
        except IntegrityError as exc:
            raise RowExistsError(f"audit_entries: seq {seq} exists already", exc) from exc

    def last_audit(self) -> AuditRow | None:
        """The entry with the highest seq, or None if the log is empty."""
        with self._reading() as session:
            row = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
            return None if row is None else _audit_view(row)

    def iter_audit(self, after_seq: int | None = None) -> Iterator[AuditRow]:
        """Entries in seq order (those after ``after_seq`` if given), read a page per transaction."""
        last = after_seq
        while True:
            statement = select(AuditEntry).order_by(AuditEntry.seq).limit(AUDIT_PAGE)
            if last is not None:
                statement = statement.where(AuditEntry.seq > last)
            with self._reading() as session:
                page = [_audit_view(row) for row in session.scalars(statement)]
            yield from page
            if len(page) < AUDIT_PAGE:
                return
            last = page[-1].seq


def _record_view(row: RequestRecord) -> RequestRecordRow:
    return RequestRecordRow(
        id=row.id,
        key_id=row.key_id,
        model=row.model,
        tier=row.tier,
        route_reason=row.route_reason,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        status=row.status,
        finish_reason=row.finish_reason,
        latency_ms=row.latency_ms,
        ttft_ms=row.ttft_ms,
        created_at=row.created_at,
    )


def _audit_view(row: AuditEntry) -> AuditRow:
    return AuditRow(row.seq, row.ts, row.actor, row.action, row.detail, row.prev_hash, row.hash)

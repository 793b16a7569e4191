"""Request records and audit entries: append, read back in order, refuse a taken key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError

from deepfort.store import AuditRow, RowExistsError, Store
from deepfort.store import records as records_module
from tests.store.conftest import T0, Ticker


def test_request_record_roundtrip(store: Store) -> None:
    added = store.add_request_record(
        id="req-1",
        key_id="df-abc",
        model="deepseek-r1",
        tier="center",
        route_reason="complexity 0.62 >= 0.45",
        prompt_tokens=120,
        completion_tokens=480,
        status=200,
        finish_reason="stop",
        latency_ms=1834.5,
        ttft_ms=212.25,
    )
    assert store.list_request_records() == [added]
    assert added.created_at > T0


def test_request_records_newest_first_limit_and_since(store: Store, clock: Ticker) -> None:
    for n in range(5):
        store.add_request_record(id=f"req-{n}", model="m", status=200, latency_ms=1.0)
    assert [r.id for r in store.list_request_records()] == ["req-4", "req-3", "req-2", "req-1", "req-0"]
    assert [r.id for r in store.list_request_records(limit=2)] == ["req-4", "req-3"]
    since = store.list_request_records()[2].created_at
    assert [r.id for r in store.list_request_records(since=since)] == ["req-4", "req-3", "req-2"]


def test_request_record_minimal_fields_and_duplicate(store: Store) -> None:
    record = store.add_request_record(id="req-x", model="m", status=503, latency_ms=0.5)
    assert (record.key_id, record.tier, record.ttft_ms, record.prompt_tokens) == (None, None, None, 0)
    with pytest.raises(RowExistsError, match="request 'req-x' is recorded already"):
        store.add_request_record(id="req-x", model="m", status=200, latency_ms=1.0)


def entry(seq: int, prev: str) -> AuditRow:
    return AuditRow(
        seq=seq,
        ts=T0 + timedelta(minutes=seq),
        actor="admin:df-abc",
        action="keys.create",
        detail='{"key_id": "df-new", "名": "值"}',
        prev_hash=prev,
        hash=f"{seq:064x}",
    )


def append(store: Store, row: AuditRow) -> None:
    store.append_audit(row.seq, row.ts, row.actor, row.action, row.detail, row.prev_hash, row.hash)


def test_audit_append_last_and_iterate_in_seq_order(store: Store) -> None:
    assert store.last_audit() is None
    assert list(store.iter_audit()) == []
    rows = [entry(1, "0" * 64), entry(2, f"{1:064x}"), entry(3, f"{2:064x}")]
    for row in (rows[0], rows[2], rows[1]):  # stored order does not matter, seq does
        append(store, row)
    assert store.last_audit() == rows[2]
    assert list(store.iter_audit()) == rows
    assert list(store.iter_audit(after_seq=1)) == rows[1:]


def test_audit_iteration_pages_through_long_logs(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records_module, "AUDIT_PAGE", 2)
    rows = [entry(seq, "x") for seq in range(1, 6)]
    for row in rows:
        append(store, row)
    assert list(store.iter_audit()) == rows


def test_audit_taken_seq_fails_with_a_retryable_integrity_error(store: Store) -> None:
    append(store, entry(1, "0" * 64))
    with pytest.raises(RowExistsError, match="audit_entries: seq 1 exists already") as caught:
        append(store, entry(1, "f" * 64))
    assert isinstance(caught.value, IntegrityError)
    assert store.last_audit() == entry(1, "0" * 64)
    append(store, entry(2, f"{1:064x}"))  # the retry, on the next seq, goes through


def test_times_come_back_as_utc(store: Store) -> None:
    east8 = timezone(timedelta(hours=8))
    ts = datetime(2026, 11, 1, 16, 0, tzinfo=east8)
    store.append_audit(1, ts, "a", "b", "{}", "0", "1")
    got = store.last_audit()
    assert got is not None
    assert got.ts == ts
    assert got.ts.tzinfo == UTC
    assert got.ts.hour == 8

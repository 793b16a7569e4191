"""Feedback rows: stored with their request, corrections sealed, newest first for the accuracy window."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from deepfort.errors import RecordIntegrityError
from deepfort.store import Store
from deepfort.store.models import Feedback


def test_feedback_roundtrip_and_request_owner(store: Store) -> None:
    store.add_request_record(id="req-1", model="m", status=200, latency_ms=5.0, key_id="alice")
    assert store.request_owner("req-1") == (True, "alice")
    assert store.request_owner("nope") == (False, None)
    store.add_feedback("req-1", correct=False, key_id="alice", correction="应为 42")
    store.add_feedback("req-1", correct=True, source="golden")
    newest, oldest = store.recent_feedback(10)
    assert (newest.source, newest.correct, newest.correction) == ("golden", True, None)
    assert (oldest.correct, oldest.correction, oldest.key_id) == (False, "应为 42", "alice")
    assert len(store.recent_feedback(1)) == 1


def test_a_tampered_correction_does_not_open(store: Store) -> None:
    row = store.add_feedback("req-2", correct=False, correction="secret correction")
    with store.engine.begin() as connection:
        blob = connection.execute(Feedback.__table__.select()).one().correction_enc
        tampered = blob[:-1] + bytes([blob[-1] ^ 1])
        connection.execute(update(Feedback).where(Feedback.id == row.id).values(correction_enc=tampered))
    with pytest.raises(RecordIntegrityError, match="feedback"):
        store.recent_feedback(5)

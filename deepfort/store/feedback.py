"""Feedback on answers: stored with the request it judges; the recent verdicts give the accuracy."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from deepfort.store.base import StoreCore
from deepfort.store.fields import open_field, seal_field
from deepfort.store.models import Feedback, RequestRecord


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    id: str
    request_id: str
    key_id: str | None
    source: str
    correct: bool
    correction: str | None
    created_at: datetime


class FeedbackMethods(StoreCore):
    def request_owner(self, request_id: str) -> tuple[bool, str | None]:
        """Whether a request record exists, and the key that made it."""
        with self._reading() as session:
            row = session.execute(
                select(RequestRecord.key_id).where(RequestRecord.id == request_id)
            ).one_or_none()
        return (False, None) if row is None else (True, row.key_id)

    def add_feedback(
        self,
        request_id: str,
        *,
        correct: bool,
        source: str = "user",
        key_id: str | None = None,
        correction: str | None = None,
    ) -> FeedbackRow:
        feedback_id = str(uuid.uuid4())
        data_key_id, sealed = None, None
        if correction is not None:
            data_key_id, key = self._data_keys.for_sealing(1)
            sealed = seal_field(key, "feedback", feedback_id, "correction", correction)
        now = self._clock()
        with self._writing() as session:
            session.add(
                Feedback(
                    id=feedback_id,
                    request_id=request_id,
                    key_id=key_id,
                    source=source,
                    correct=correct,
                    correction_enc=sealed,
                    data_key_id=data_key_id,
                    created_at=now,
                )
            )
        return FeedbackRow(feedback_id, request_id, key_id, source, correct, correction, now)

    def recent_feedback(self, limit: int) -> list[FeedbackRow]:
        """The newest ``limit`` verdicts, newest first, corrections opened."""
        with self._reading() as session:
            rows = session.scalars(select(Feedback).order_by(Feedback.created_at.desc()).limit(limit)).all()
            out = []
            for row in rows:
                correction = None
                if row.correction_enc is not None and row.data_key_id is not None:
                    key = self._data_keys.key(session, row.data_key_id)
                    correction = open_field(key, "feedback", row.id, "correction", row.correction_enc)
                out.append(
                    FeedbackRow(
                        row.id,
                        row.request_id,
                        row.key_id,
                        row.source,
                        row.correct,
                        correction,
                        row.created_at,
                    )
                )
        return out

"""The persistence listener: attached to a run's handle, it queues each event (listeners must be quick)
and a task appends them to the store in order. Followers wait on `written` to hear of new rows.
`detach()` stops recording (what came before is still written): a server stopping leaves its runs
`running`, without the events of their cancellation, for a restart to resume."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from deepfort.aigc.workflow.events import Event
from deepfort.store import Store
from deepfort.store.workflows import EventRow

log = logging.getLogger(__name__)


def event_row(event: Event) -> EventRow:
    """The event as the store keeps it: plain JSON values (anything else a node produced becomes its
    string)."""
    body: dict[str, Any] = json.loads(json.dumps(event.to_dict(), default=str, ensure_ascii=False))
    return EventRow(event.seq, event.type, body)


class RunRecorder:
    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self._pending: list[EventRow] = []
        self._wake = asyncio.Event()
        self._written = asyncio.Event()
        self._detached = False
        self.task = asyncio.create_task(self._drain())

    def __call__(self, event: Event) -> None:
        if not self._detached:
            self._pending.append(event_row(event))
            self._wake.set()

    def detach(self) -> None:
        self._detached = True
        self._wake.set()

    @property
    def written(self) -> asyncio.Event:
        """Set at the next write; take it before reading the store so no write goes unnoticed."""
        return self._written

    async def _drain(self) -> None:
        finished = False
        while not finished:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                finished = self._detached
                continue
            try:
                await asyncio.to_thread(self.store.append_run_events, self.run_id, batch)
            except SQLAlchemyError:
                log.exception("run %s: persisting %d events failed", self.run_id, len(batch))
            finished = (self._detached and not self._pending) or any(
                row.type == "run_finished" for row in batch
            )
            seen, self._written = self._written, asyncio.Event()
            seen.set()

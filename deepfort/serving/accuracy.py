"""The rolling answer accuracy: the share of the newest verdicts (users' thumbs, golden-set checks)
that said the answer was right. Loaded from the store at start and refreshed from it, so every server
process sharing a database reports the same figure."""

from __future__ import annotations

import asyncio
from collections import deque

from deepfort.observability.metrics import Metrics
from deepfort.store import Store


class AccuracyTracker:
    def __init__(self, store: Store, metrics: Metrics, window: int) -> None:
        self.store = store
        self.metrics = metrics
        self.window = window
        self.verdicts: deque[bool] = deque(maxlen=window)

    @property
    def value(self) -> float | None:
        return sum(self.verdicts) / len(self.verdicts) if self.verdicts else None

    def _publish(self) -> None:
        value = self.value
        if value is not None:
            self.metrics.set_accuracy(value, len(self.verdicts))

    async def reload(self) -> None:
        rows = await asyncio.to_thread(self.store.recent_feedback, self.window)
        self.verdicts = deque((row.correct for row in reversed(rows)), maxlen=self.window)
        self._publish()

    def add(self, correct: bool) -> None:
        self.verdicts.append(correct)
        self._publish()

    async def run(self, every_s: float = 30.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            await self.reload()

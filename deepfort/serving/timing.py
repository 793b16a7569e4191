"""When the pieces of one answer went out: time to first token, gaps between tokens, queue time."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Timing:
    first: float | None = None
    last: float | None = None
    gaps: list[float] = field(default_factory=list)
    queue_s: float | None = None

    def token(self, queue_s: float | None = None) -> None:
        """A piece of the answer was produced now (``perf_counter`` clock)."""
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        elif self.last is not None:
            self.gaps.append(now - self.last)
        self.last = now
        if queue_s is not None and self.queue_s is None:
            self.queue_s = queue_s

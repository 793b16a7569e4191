"""Turning a token stream into text: UTF-8 across token boundaries, stop strings, thinking budget."""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class StopTextStream:
    """Incremental UTF-8 decoding plus stop strings honoured across token boundaries.

    Text that could still be the beginning of a stop string is held back until it is known not to be;
    when a stop string completes, the text before it is released and the stream reports it stopped.
    """

    def __init__(self, stop: Sequence[str] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = [s for s in stop if s]
        self._held = ""
        self.stopped = False

    def push(self, data: bytes) -> str:
        """Feed one token's bytes; return the text that is now safe to emit."""
        if self.stopped:
            return ""
        text = self._held + self._decoder.decode(data)
        if not self._stops:
            self._held = ""
            return text
        cut = -1
        for stop in self._stops:
            idx = text.find(stop)
            if idx != -1 and (cut == -1 or idx < cut):
                cut = idx
        if cut != -1:
            self.stopped = True
            self._held = ""
            return text[:cut]
        keep = self._partial_stop_suffix(text)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """End of stream: release what was held (a partial stop string that never completed)."""
        if self.stopped:
            return ""
        text = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return text

    def _partial_stop_suffix(self, text: str) -> int:
        longest = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:n]):
                    longest = n
                    break
        return longest


class ThinkingTracker:
    """Counts reasoning tokens and says when the budget is spent, so the engine can force the end tag."""

    def __init__(self, budget: int | None, start_tag: str, end_tag: str, *, started: bool) -> None:
        self.budget = budget
        self.start_tag = start_tag
        self.end_tag = end_tag
        self.started = started
        self.ended = False
        self.count = 0
        self._tail = ""

    def should_force(self) -> bool:
        """True once, before sampling, when reasoning is open and its budget is used up."""
        if self.budget is None:
            return False
        if self.started and not self.ended and self.count >= self.budget:
            self.ended = True
            return True
        return False

    def observe(self, text: str) -> None:
        """Record one generated token's text."""
        if self.ended:
            return
        self._tail = (self._tail + text)[-(len(self.start_tag) + len(self.end_tag) + len(text)) :]
        if not self.started:
            idx = self._tail.find(self.start_tag)
            if idx != -1:
                self.started = True
                self._tail = self._tail[idx + len(self.start_tag) :]
            return
        self.count += 1
        if self.end_tag in self._tail:
            self.ended = True

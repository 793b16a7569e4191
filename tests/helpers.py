"""Small helpers the server tests share."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator


def wait_until(check: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``limit`` seconds (a deadline, not a
    timing assertion: the conditions are engine states)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def read_tokens(lines: Iterator[str], count: int) -> None:
    """Read ``count`` content chunks of an SSE stream. Keep one line iterator per stream: dropping an
    httpx iterator closes the connection, which is a disconnect."""
    seen = 0
    for line in lines:
        if '"content":"' in line and '"content":""' not in line:
            seen += 1
            if seen == count:
                return
    raise AssertionError("stream ended early")

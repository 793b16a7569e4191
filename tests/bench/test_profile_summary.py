"""benchmarks/profile_serving.py sums py-spy's raw samples per thread: idle waits apart, self time by
frame."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from profile_serving import summarize

RAW = """\
thread (11): MainThread;run (uvicorn/main.py:10);EpollSelector.select (selectors.py:468) 90
thread (11): MainThread;run (uvicorn/main.py:10);sse (deepfort/api/streaming.py:40) 10
thread (12): deepfort-llamacpp;_run (scheduler.py:140);Scheduler._step (scheduler.py:252) 70
thread (12): deepfort-llamacpp;_run (scheduler.py:140);Scheduler._step (scheduler.py:253) 5
thread (12): deepfort-llamacpp;_run (scheduler.py:131);Condition.wait (threading.py:327) 25
thread (13): asyncio_0;_worker (concurrent/futures/thread.py:81) 100
"""


def test_threads_active_share_and_top_frames() -> None:
    rows = summarize(RAW, top=2).splitlines()
    main = "| MainThread | 100 | 10.0 % | (idle wait) 90.0 %; sse (deepfort/api/streaming.py) 10.0 % |"
    loop = "| deepfort-llamacpp | 100 | 75.0 % | Scheduler._step (scheduler.py) 75.0 %; (idle wait) 25.0 % |"
    assert rows[2:] == [main, loop]  # both lines of _step summed; a thread that only waited is left out

"""Which server instance owns a running workflow run.

Each `deepfort serve` holds an instance id for its whole life: the first free slot
``<data_dir>/instances/<n>.id`` that it can lock (``flock``, released by the kernel when the process dies,
even by ``kill -9``). A restarted server takes the same slot, so it knows at once which interrupted runs
were its own; a second server on the same data directory takes the next slot. Servers sharing only the
database (replicas) tell their runs apart by these ids and adopt each other's runs only when the owner's
heartbeat is older than the lease.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from pathlib import Path
from typing import IO

MAX_SLOTS = 64


class InstanceId:
    """A held instance id; `release()` (or the process ending) frees its slot."""

    def __init__(self, value: str, lock: IO[str] | None) -> None:
        self.value = value
        self._lock = lock

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def claim_instance_id(data_dir: Path) -> InstanceId:
    """Lock the first free slot under ``data_dir/instances`` and return its id (created on first use).
    When every slot is taken the id is a fresh one, held by nobody else."""
    folder = data_dir / "instances"
    folder.mkdir(parents=True, exist_ok=True)
    for slot in range(MAX_SLOTS):
        path = folder / f"{slot}.id"
        handle = path.open("a+", encoding="ascii")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.seek(0)
        value = handle.read().strip()
        if not value:
            value = uuid.uuid4().hex
            handle.truncate(0)
            handle.write(value)
            handle.flush()
            os.fsync(handle.fileno())
        return InstanceId(value, handle)
    return InstanceId(uuid.uuid4().hex, None)

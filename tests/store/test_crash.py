"""A writer killed with SIGKILL in the middle of a burst loses nothing it acknowledged, and leaves a
database that opens and passes SQLite's integrity check."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from deepfort.crypto.sm import Keyring, generate_key
from deepfort.store import Store

ROOT = Path(__file__).resolve().parents[2]
ACKS_BEFORE_KILL = 40


def read_acks(process: subprocess.Popen[str], wanted: int, deadline_s: float = 120.0) -> list[str]:
    """Acknowledged message ids, read until ``wanted`` or until the writer exits."""
    assert process.stdout is not None
    acks: list[str] = []
    deadline = time.monotonic() + deadline_s
    while len(acks) < wanted:
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"the writer acknowledged only {len(acks)} writes before the deadline")
        line = process.stdout.readline()
        if not line:
            break
        acks.extend(line.split())
    return acks


def run_and_kill(url: str, keyring_file: Path, conversation_id: str) -> list[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.store.crash_writer", url, str(keyring_file), conversation_id],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        acks = read_acks(process, ACKS_BEFORE_KILL)
        assert process.poll() is None, (
            f"the writer died early: {process.stderr.read() if process.stderr else ''}"
        )
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        acks += read_acks(process, sys.maxsize)  # lines printed (so committed) before the kill landed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    assert process.returncode == -signal.SIGKILL
    return acks


@pytest.mark.e2e
def test_sigkill_mid_burst_keeps_every_acknowledged_write(
    db_url: str, tmp_path: Path, open_store: Callable[..., Store]
) -> None:
    keyring_file = tmp_path / "master.keys"
    generate_key(keyring_file)
    setup = open_store(Keyring.load(keyring_file))
    conversation = setup.create_conversation("alice", "crash test", None)
    setup.close()

    acknowledged: list[str] = []
    for _ in range(2):  # the second writer starts on the database the first one was killed over
        acknowledged += run_and_kill(db_url, keyring_file, conversation.id)

    store = open_store(Keyring.load(keyring_file))
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalars().all() == ["ok"]
    got = store.get_conversation(conversation.id, "alice")
    assert got is not None
    stored = [message.id for message in got.messages]
    assert len(acknowledged) >= 2 * ACKS_BEFORE_KILL
    assert set(acknowledged) <= set(stored)
    assert [message.seq for message in got.messages] == list(range(1, len(stored) + 1))
    store.add_message(conversation.id, "user", "still writable")

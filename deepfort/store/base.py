"""What every group of store methods shares: the engine, sessions for reading and for writing, the data
keys and the clock. :class:`deepfort.store.Store` puts the groups together."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Executable, Result
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from deepfort.crypto.sm import Keyring
from deepfort.store.datakeys import DataKeys
from deepfort.store.db import WRITE


def utc_now() -> datetime:
    return datetime.now(UTC)


class StoreCore:
    """Sessions are short: one per method call (one per batch for long jobs), never held between calls,
    so that a SQLite reader never holds back a checkpoint and a PostgreSQL connection goes back to the
    pool at once."""

    def __init__(
        self, engine: Engine, master: Keyring, clock: Callable[[], datetime], fields_per_data_key: int
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._read_sessions = read_sessions(engine)
        self._write_sessions = write_sessions(engine)
        self._data_keys = DataKeys(self._write_sessions, master, clock, fields_per_data_key)

    @property
    def engine(self) -> Engine:
        return self._engine

    def use_master(self, keyring: Keyring) -> None:
        """Take a reloaded master keyring (a new key rolled out while serving): new data keys are wrapped
        under its active key, and data keys already re-wrapped under it can be opened."""
        self._data_keys.master = keyring

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._read_sessions.begin() as session:
            yield session

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A session whose transaction commits when the block ends (rolls back if it raises). On SQLite it
        takes the write lock at once, so a read followed by a write in it cannot fail on a stale snapshot."""
        with self._write_sessions.begin() as session:
            yield session


def read_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


def write_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False, autoflush=False)


def rowcount(session: Session, statement: Executable) -> int:
    """Rows an UPDATE or DELETE ``statement`` touched."""
    result: Result[Any] = session.execute(statement)
    return cast(CursorResult[Any], result).rowcount

"""Engines for the store: a SQLite file by default, PostgreSQL by URL.

SQLite
    Every connection runs in WAL mode with ``synchronous=NORMAL``, foreign keys on and a busy timeout. In
    WAL mode NORMAL is durable against a crash of the process (``kill -9``, OOM killer): a commit that
    returned is in the WAL file, which the operating system holds. A power loss or kernel crash may lose
    the last transactions before the next checkpoint (the database stays consistent, never corrupt);
    ``synchronous=FULL`` closes that gap at the price of an fsync on every commit, several times slower
    for small writes. Pass ``synchronous="FULL"`` to :func:`make_engine` where that trade is wanted.

    The ``sqlite3`` driver's own transaction handling is switched off and SQLAlchemy emits ``BEGIN``
    itself, so that reads are repeatable inside a transaction and DDL is transactional. A connection whose
    execution options carry ``sqlite_begin="IMMEDIATE"`` (see :data:`WRITE`) takes the write lock at
    ``BEGIN``: a transaction that reads and then writes would otherwise fail at once with "database is
    locked" when another writer committed in between, whatever the busy timeout.

    A new database file is created with mode ``0600`` (SQLite gives its ``-wal`` and ``-shm`` files the
    same mode), in a directory created as needed.

PostgreSQL
    ``postgresql+psycopg://user@host:5432/db`` (the ``postgres`` extra). Nothing is set beyond SQLAlchemy's
    defaults; the store locks what it must (``SELECT ... FOR UPDATE``, an advisory lock for migrations).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from deepfort.config import Settings
from deepfort.errors import ConfigError

DB_FILE = "deepfort.db"
BUSY_TIMEOUT_MS = 10_000
WRITE: dict[str, Any] = {"sqlite_begin": "IMMEDIATE"}
"""Execution options for an engine whose transactions write (see the module docstring)."""

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


def default_url(settings: Settings) -> str:
    """``settings.store.url``, or the SQLite file ``data_dir/deepfort.db``."""
    if settings.store.url:
        return settings.store.url
    return f"sqlite:///{(settings.data_dir / DB_FILE).resolve()}"


def make_engine(
    url: str, *, synchronous: Synchronous = "NORMAL", busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> Engine:
    """An engine for ``url``, set up as the module docstring describes; :class:`ConfigError` for a URL
    that SQLAlchemy cannot read or a database kind other than SQLite and PostgreSQL."""
    if synchronous not in get_args(Synchronous):
        raise ConfigError(f"synchronous must be one of {get_args(Synchronous)}, not {synchronous!r}")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"store url is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    if backend != "sqlite":
        raise ConfigError(f"store url: unsupported database {backend!r}; use sqlite or postgresql+psycopg")
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        _create_private(Path(database))
    engine = create_engine(parsed)
    _configure_sqlite(engine, synchronous, busy_timeout_ms)
    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _create_private(path: Path) -> None:
    """Create the database file with mode 0600 before SQLite does (it would use the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot create the database file {path}: {exc.strerror}") from exc
    os.close(fd)


def _configure_sqlite(engine: Engine, synchronous: Synchronous, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        assert isinstance(dbapi_connection, sqlite3.Connection)
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (see _on_begin)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"sqlite_begin must be DEFERRED, IMMEDIATE or EXCLUSIVE, not {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")

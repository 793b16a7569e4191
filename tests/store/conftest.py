"""Store fixtures: every store test runs on a SQLite file and on PostgreSQL (a fresh schema per test).

PostgreSQL is looked for at 127.0.0.1:5432, database ``test``, user ``postgres``, trust auth (as in CI);
``DEEPFORT_TEST_POSTGRES`` overrides the libpq connection string. When it cannot be reached, the
PostgreSQL variants fail saying why (as a missing Chromium or promtool does); ``-m 'not postgres'``
leaves them out (``make test-fast`` does).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import make_url

from deepfort.crypto.sm import Keyring
from deepfort.store import Store
from deepfort.store.datakeys import FIELDS_PER_KEY

PG_CONNINFO = os.environ.get("DEEPFORT_TEST_POSTGRES", "host=127.0.0.1 port=5432 dbname=test user=postgres")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


class Ticker:
    """A clock that moves one second per reading, so that order by time is never a tie."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(scope="session")
def postgres() -> str | None:
    """The reason PostgreSQL cannot be used, or None when it can."""
    try:
        with psycopg.connect(PG_CONNINFO, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable ({PG_CONNINFO}): {str(exc).strip().splitlines()[0]}"
    return None


def _pg_url(schema: str) -> str:
    params = conninfo_to_dict(PG_CONNINFO)
    url = make_url("postgresql+psycopg://").set(
        username=str(params.get("user", "postgres")),
        host=str(params.get("host", "127.0.0.1")),
        port=int(params.get("port", 5432)),
        database=str(params.get("dbname", "test")),
    )
    if params.get("password"):
        url = url.set(password=str(params["password"]))
    rendered = url.render_as_string(hide_password=False)
    return f"{rendered}?options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, postgres: str | None) -> Iterator[str]:
    """The URL of an empty database: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'deepfort.db'}"
        return
    if postgres is not None:
        pytest.fail(f"{postgres}: start it, or leave the PostgreSQL variants out with -m 'not postgres'")
    schema = f"deepfort_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_CONNINFO, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield _pg_url(schema)
    finally:
        with psycopg.connect(PG_CONNINFO, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def master() -> Keyring:
    return Keyring({"m1": os.urandom(16)}, "m1")


@pytest.fixture
def clock() -> Ticker:
    return Ticker()


@pytest.fixture
def open_store(db_url: str, master: Keyring, clock: Ticker) -> Iterator[Callable[..., Store]]:
    """Open stores on the test's database, all closed at the end."""
    opened: list[Store] = []

    def open_(keyring: Keyring | None = None, fields_per_data_key: int = FIELDS_PER_KEY) -> Store:
        store = Store.open(db_url, keyring or master, clock=clock, fields_per_data_key=fields_per_data_key)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., Store]) -> Store:
    return open_store()

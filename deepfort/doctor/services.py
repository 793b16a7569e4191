"""Checks of the services deepfort talks to: the database (SQLite file or PostgreSQL) and Redis."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from deepfort.config import Settings
from deepfort.doctor.checks import Check
from deepfort.store import default_url

TIMEOUT_S = 3


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def _sqlite(url: URL) -> Check:
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return Check("database", "ok", f"SQLite {database or ':memory:'} (not a file to check)")
    path = Path(database)
    if not path.exists():
        return Check("database", "ok", f"SQLite {path} not created yet (created on first start)")
    # Read only, and no pragmas: the check must not create or change anything.
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tables = conn.execute(text("select count(*) from sqlite_master")).scalar_one()
    except SQLAlchemyError as exc:
        return Check("database", "fail", f"SQLite {path}: {_first_line(exc)}", "restore it from a backup")
    finally:
        engine.dispose()
    return Check("database", "ok", f"SQLite {path} ({tables} schema objects)")


def _postgres(url: URL) -> Check:
    shown = url.render_as_string(hide_password=True)
    try:
        engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": TIMEOUT_S})
    except ModuleNotFoundError:
        return Check("database", "fail", f"{shown}: no PostgreSQL driver", "pip install 'deepfort[postgres]'")
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except SQLAlchemyError as exc:
        where = f"{url.host or 'localhost'}:{url.port or 5432}"
        return Check(
            "database",
            "fail",
            f"{shown}: {_first_line(exc)}",
            f"is PostgreSQL running and reachable at {where}? check store.url, the user and the password",
        )
    finally:
        engine.dispose()
    return Check("database", "ok", f"{shown} answers")


def check_database(settings: Settings) -> Check:
    """Open the store's database and run one query, with a short timeout."""
    try:
        url = make_url(default_url(settings))
    except ArgumentError as exc:
        return Check("database", "fail", f"store.url is not a database URL: {exc}", "fix store.url")
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite(url)
    if backend == "postgresql":
        return _postgres(url)
    return Check("database", "fail", f"unsupported database {backend!r}", "use sqlite or postgresql+psycopg")


def check_redis(url: str) -> Check:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S)
    except ValueError as exc:
        return Check("redis", "fail", f"security.redis_url: {exc}", "fix security.redis_url")
    try:
        client.ping()
    except redis.RedisError as exc:
        return Check(
            "redis", "fail", f"{_first_line(exc)}", "is Redis running there? check security.redis_url"
        )
    finally:
        client.close()
    return Check("redis", "ok", "answers PING")

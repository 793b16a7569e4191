"""Alembic's environment: run on the connection :mod:`deepfort.store.migrate` hands over."""

from __future__ import annotations

from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from deepfort.store.models import Base, UtcDateTime


def _render_item(kind: str, obj: object, _context: AutogenContext) -> str | Literal[False]:
    """Scripts name plain SQLAlchemy types, so that they never change when models.py does."""
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("deepfort migrations run online only; use deepfort.store.migrate.upgrade")
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("deepfort migrations need a connection; use deepfort.store.migrate.upgrade")
    _run(connection)


_main()

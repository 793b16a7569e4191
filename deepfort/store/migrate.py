"""Alembic, driven from code: no ``alembic.ini`` at runtime; the scripts ship inside the package.

:func:`upgrade` brings a database to the newest revision in one transaction, under a lock (PostgreSQL:
an advisory lock; SQLite: the write lock), so that several processes starting at once on an empty
database do not race to create it. To write the next revision during development::

    python -c "from deepfort.store.migrate import revision; revision('add x', 'sqlite:////tmp/x.db')"

then review the file it writes in ``migrations/versions`` (autogenerate misses some changes, e.g. check
constraints) and rename it ``NNNN_<slug>.py`` like its siblings.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from deepfort.store.db import WRITE, make_engine

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK = 0x64656570666F7274  # "deepfort"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision_id: str = "head") -> None:
    """Apply every migration up to ``revision_id`` that the database lacks."""
    config = alembic_config()
    with engine.execution_options(**WRITE).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision_id)


def revision(message: str, url: str) -> None:
    """Autogenerate a new revision script from the models' difference with the database at ``url``,
    after upgrading that database to the newest revision (development only)."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.revision(config, message=message, autogenerate=True)
    finally:
        engine.dispose()

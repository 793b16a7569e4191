"""SQLite setup (WAL, synchronous, foreign keys, busy timeout, a private file) and URL handling."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from deepfort.config import Settings, StoreSettings
from deepfort.errors import ConfigError
from deepfort.store.db import default_url, make_engine


def pragmas(url: str, **options: str) -> dict[str, object]:
    engine = make_engine(url, **options)  # type: ignore[arg-type]
    try:
        with engine.connect() as connection:
            names = ["journal_mode", "synchronous", "foreign_keys", "busy_timeout"]
            return {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names}
    finally:
        engine.dispose()


def test_sqlite_runs_wal_normal_with_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'deepfort.db'}"
    assert pragmas(url) == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 10000}
    assert pragmas(url, synchronous="FULL")["synchronous"] == 2


def test_sqlite_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deepfort.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_default_url_is_a_file_in_data_dir_unless_configured(tmp_path: Path) -> None:
    assert default_url(Settings(data_dir=tmp_path)) == f"sqlite:///{tmp_path.resolve() / 'deepfort.db'}"
    pg = "postgresql+psycopg://app@db.internal/deepfort"
    assert default_url(Settings(data_dir=tmp_path, store=StoreSettings(url=pg))) == pg


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("not a url", {}, "not a database URL"),
        ("mysql+pymysql://u@h/db", {}, "unsupported database 'mysql'"),
        ("sqlite://", {"synchronous": "SOMETIMES"}, "synchronous must be one of"),
    ],
)
def test_bad_settings_are_config_errors(url: str, options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_engine(url, **options)  # type: ignore[arg-type]

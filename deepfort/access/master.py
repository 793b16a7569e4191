"""The master keyring: SM4 keys (with ids) that wrap the store's data keys. Created on first start."""

from __future__ import annotations

from pathlib import Path

from deepfort.config import Settings
from deepfort.crypto.sm import Keyring, generate_key
from deepfort.store import Store, default_url


def master_key_path(settings: Settings) -> Path:
    return settings.security.master_key_file or settings.data_dir / "master.keys"


def load_master(settings: Settings, *, create: bool = True) -> Keyring:
    """The master keyring; on first use a file with one fresh key (mode 0600) is created."""
    path = master_key_path(settings)
    if not path.exists() and create:
        path.parent.mkdir(parents=True, exist_ok=True)
        generate_key(path)
    return Keyring.load(path)


def open_store(settings: Settings) -> Store:
    """The database of ``settings`` (SQLite file in data_dir by default), opened with the master keyring."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Store.open(settings.store.url or default_url(settings), load_master(settings))

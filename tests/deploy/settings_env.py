"""Check deployment files against deepfort's own settings: env names resolve to fields, YAML loads."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from deepfort.config import Settings, load_settings

PREFIX = "DEEPFORT_"

# Well-formed stand-ins for the values deployments take from secrets.
DUMMY_SECRETS = {
    "DEEPFORT_CLUSTER__KEYS": "k1:00112233445566778899aabbccddeeff",
    "DEEPFORT_CLUSTER__NODE_SECRET": "a-node-secret-of-some-length",
    "DEEPFORT_STORE__URL": "postgresql+psycopg://deepfort:password@postgres:5432/deepfort",
    "DEEPFORT_SECURITY__REDIS_URL": "redis://redis:6379/0",
}


def field_exists(env_name: str) -> bool:
    """Whether ``DEEPFORT_A__B`` names a settings field (pydantic-settings ignores unknown top-level names,
    so a misspelt variable would otherwise do nothing at all)."""
    if not env_name.startswith(PREFIX):
        return False
    model: type[BaseModel] = Settings
    parts = env_name[len(PREFIX) :].lower().split("__")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if i < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """``env`` as the only ``DEEPFORT_*`` variables while the block runs."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(PREFIX) or k in env}
    for key in saved:
        del os.environ[key]
    os.environ.update(env)
    try:
        yield
    finally:
        for key in env:
            os.environ.pop(key, None)
        os.environ.update(saved)


def load(config: Path | None, env: Mapping[str, str]) -> Settings:
    with environment(env):
        return load_settings(config)


def dotenv(path: Path, *, uncomment: bool = False) -> dict[str, str]:
    """``KEY=value`` lines of an env file; with ``uncomment``, ``# KEY=value`` lines count too."""
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if uncomment and line.startswith("#"):
            line = line.lstrip("#").strip()
        if not line or line.startswith("#") or "=" not in line or " " in line.split("=", 1)[0]:
            continue
        key, value = line.split("=", 1)
        out[key] = value
    return out


def as_env(mapping: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in mapping.items()}

"""The collaborators every service shares, grouped in one object."""

from __future__ import annotations

from dataclasses import dataclass

from deepfort.config import ServerSettings
from deepfort.serving.pool import ModelPool


@dataclass(frozen=True)
class ServingContext:
    pool: ModelPool
    server: ServerSettings

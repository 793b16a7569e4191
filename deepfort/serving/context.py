"""The collaborators every service shares, grouped in one object."""

from __future__ import annotations

from dataclasses import dataclass

from deepfort.config import RoutingSettings, ServerSettings
from deepfort.routing.router import Router
from deepfort.serving.pool import ModelPool


@dataclass(frozen=True)
class ServingContext:
    pool: ModelPool
    server: ServerSettings
    router: Router
    routing: RoutingSettings

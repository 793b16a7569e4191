"""Workflow runs kept in the store: publishing versions, starting runs (idempotently), persisting their
events through a listener, following them live, recovering runs a crash left `running`, and artefacts."""

from __future__ import annotations

from deepfort.aigc.runs.artefacts import ArtefactStore
from deepfort.aigc.runs.service import RunService

__all__ = ["ArtefactStore", "RunService"]

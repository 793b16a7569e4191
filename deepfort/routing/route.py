"""Where one request went and why: sent back in the ``x-deepfort-route`` header and the body's ``route``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal

Tier = Literal["local", "edge", "center"]
ROUTE_HEADER = "x-deepfort-route"


@dataclass(frozen=True)
class Route:
    """``tier`` is ``local`` on a standalone node or a center, ``edge`` or ``center`` on an edge.
    ``degraded`` marks a question meant for a center that the edge answered because the center failed."""

    tier: Tier
    model: str
    reason: str
    score: float | None = None
    target: str | None = None
    degraded: bool = False

    def header(self) -> str:
        parts = [self.tier, f"model={self.model}"]
        if self.target:
            parts.append(f"target={self.target}")
        if self.score is not None:
            parts.append(f"score={self.score:.2f}")
        if self.degraded:
            parts.append("degraded")
        # Header values must be latin-1; reasons are ASCII by construction, but guard anyway.
        parts.append(f"reason={self.reason}".encode("ascii", "replace").decode())
        return "; ".join(parts)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def fallen_back(self, model: str, why: str) -> Route:
        return replace(
            self, tier="edge", model=model, target=None, degraded=True, reason=f"{self.reason}; {why}"
        )

"""The image backend contract: what a backend draws (`ShotCard`) and how (`ImageBackend`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ShotCard:
    """What a backend draws for one storyboard shot (`index` counts from 0)."""

    index: int
    scene: str
    visual_prompt: str
    narration: str


class ImageBackend(Protocol):
    """Renders one shot as a PNG. `name` is the registry key; `render` may block (it runs in a thread)."""

    name: str

    def render(self, shot: ShotCard, width: int, height: int) -> bytes: ...

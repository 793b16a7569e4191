"""The image backend contract and its registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from deepfort.errors import ConfigError


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


class UnknownImageBackendError(ConfigError):
    """An image backend name nothing is registered under; the message lists the known ones."""


class ImageBackendRegistry:
    def __init__(self, backends: list[ImageBackend] | None = None) -> None:
        self._backends: dict[str, ImageBackend] = {}
        for backend in backends or []:
            self.register(backend)

    def register(self, backend: ImageBackend) -> None:
        self._backends[backend.name] = backend

    def known(self) -> list[str]:
        return sorted(self._backends)

    def get(self, name: str) -> ImageBackend:
        try:
            return self._backends[name]
        except KeyError:
            raise UnknownImageBackendError(
                f"unknown image backend {name!r} (known: {', '.join(self.known())})"
            ) from None


def default_image_backends() -> ImageBackendRegistry:
    from deepfort.aigc.image.cards import CardsBackend

    return ImageBackendRegistry([CardsBackend()])

"""Image backends by name: a factory each, built on first use and kept.

``cards`` is built in; an installed package adds a backend through the entry point group
``deepfort.image_backends``, naming an :data:`ImageBackendFactory` (a backend class with no constructor
arguments is one). See :mod:`deepfort.registry`.
"""

from __future__ import annotations

from collections.abc import Callable

from deepfort.aigc.image.base import ImageBackend
from deepfort.errors import UnknownNameError
from deepfort.registry import Registry

ImageBackendFactory = Callable[[], ImageBackend]
"""Builds a backend: may load weights, so it is called once per name and process, on first use."""


class UnknownImageBackendError(UnknownNameError):
    """An image backend name nothing is registered under; the message lists the known ones."""

    default_kind = "image backend"


def _builtin() -> list[tuple[str, ImageBackendFactory]]:
    # Imported on first use: the cards backend loads Pillow.
    from deepfort.aigc.image.cards import CardsBackend

    return [(CardsBackend.name, CardsBackend)]


IMAGE_BACKENDS: Registry[ImageBackendFactory] = Registry(
    "image backend", group="deepfort.image_backends", builtins=_builtin, error=UnknownImageBackendError
)


class ImageBackendRegistry:
    """The backends the image nodes of one process draw with: each built from its factory in
    ``factories`` the first time it is asked for, then kept."""

    def __init__(self, factories: Registry[ImageBackendFactory] | None = None) -> None:
        self.factories = factories if factories is not None else IMAGE_BACKENDS
        self._built: dict[str, ImageBackend] = {}

    def known(self) -> list[str]:
        return self.factories.names()

    def get(self, name: str) -> ImageBackend:
        """The backend registered under ``name``; :class:`UnknownImageBackendError` if none."""
        backend = self._built.get(name)
        if backend is None:
            backend = self._built[name] = self.factories.get(name)()
        return backend


def default_image_backends() -> ImageBackendRegistry:
    return ImageBackendRegistry()

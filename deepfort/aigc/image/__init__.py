"""Image backends for the workflow `image` node, registered by name (`cards` ships here; diffusion
backends come later)."""

from __future__ import annotations

from deepfort.aigc.image.base import (
    ImageBackend,
    ImageBackendRegistry,
    ShotCard,
    UnknownImageBackendError,
    default_image_backends,
)

__all__ = [
    "ImageBackend",
    "ImageBackendRegistry",
    "ShotCard",
    "UnknownImageBackendError",
    "default_image_backends",
]

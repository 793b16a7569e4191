"""The prompt set of a distillation: one JSON object a line, a prompt and what its answer is checked by.

::

    {"id": "m1", "prompt": "What is 17 * 3?", "answer": "51"}                        maths
    {"question": "Tom has 3 apples ...", "answer": "... #### 5"}                     maths (GSM8K)
    {"prompt": "def add(a, b): ...", "test": "def check(f): ...", "entry_point": "add"}  code (HumanEval)
    {"prompt": "Write a function to add two numbers.", "tests": ["assert add(1, 2) == 3"]}  code (MBPP)
    {"prompt": "Explain GDP in one sentence.", "criteria": "names it as total output"}      a judge model

The text is ``prompt`` (or ``question``, ``problem``, ``text``: the published suites' names). A prompt is
checked by the verifier its fields call for (``auto``): ``test`` and ``entry_point`` run HumanEval's way,
``tests`` (or MBPP's ``test_list``) MBPP's, ``answer`` is a maths final answer (GSM8K's ``#### N`` or a
MATH ``\\boxed{}`` answer, sympy equivalence), anything else goes to a judge model with its ``criteria``
(or ``reference`` answer). ``--verifier math|code|judge`` asks for one kind and refuses a prompt that lacks
its fields (``judge`` takes every prompt, its ``answer`` as the reference).

Each prompt becomes a row of the eval suite that checks its kind (``math``, ``gsm8k``, ``humaneval``,
``mbpp``, ``golden``), in that suite's published format, and then that suite's item: the teacher is asked
exactly what ``deepfort eval`` asks, its answers are judged by the suite's own code, and the held-out
split is evaluated by the same suites (:func:`suite_rows`, :func:`load_items`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from deepfort.errors import ConfigError
from deepfort.evals.base import Item
from deepfort.evals.suites import SUITES
from deepfort.evals.suites.files import read_jsonl

__all__ = [
    "KINDS",
    "VERIFIERS",
    "Kind",
    "Prompt",
    "Verifier",
    "load_items",
    "read_prompts",
    "suite_rows",
]

Kind = Literal["math", "code", "judge"]
Verifier = Literal["auto", "math", "code", "judge", "none"]
KINDS: tuple[Kind, ...] = ("math", "code", "judge")
VERIFIERS: tuple[Verifier, ...] = ("auto", "math", "code", "judge", "none")

DEFAULT_CRITERIA = "The answer is correct and complete, and it answers the question that was asked."
_TEXT_KEYS = ("prompt", "question", "problem", "text")
_ID_KEYS = ("id", "task_id", "unique_id")


@dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt of the set: its id (the ``id`` field, else ``<file stem>/<line>``), the line it was
    read from, the verifier kind, the eval suite that asks and judges it and its row in that suite's
    format."""

    id: str
    line: int
    kind: Kind
    suite: str
    text: str
    row: Mapping[str, Any]


def _text(row: Mapping[str, Any], where: str) -> str:
    for key in _TEXT_KEYS:
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value
    raise ConfigError(f"{where}: no prompt (give `prompt`, `question`, `problem` or `text`)")


def _tests(row: Mapping[str, Any], where: str) -> list[str] | None:
    tests = row.get("tests", row.get("test_list"))
    if tests is None:
        return None
    if isinstance(tests, str):
        tests = [tests]
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise ConfigError(f"{where}: `tests` must be a non-empty list of strings")
    return tests


def _kind(row: Mapping[str, Any], verifier: Verifier, where: str) -> Kind:
    has_code = ("test" in row and "entry_point" in row) or _tests(row, where) is not None
    has_answer = "answer" in row
    if verifier == "math" and not has_answer:
        raise ConfigError(f"{where}: --verifier math needs an `answer`")
    if verifier == "code" and not has_code:
        raise ConfigError(f"{where}: --verifier code needs `test` and `entry_point`, or `tests`")
    if verifier in KINDS:
        return verifier
    if has_code:
        return "code"
    return "math" if has_answer else "judge"


def _row(kind: Kind, ident: str, text: str, row: Mapping[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    """The eval suite that checks a prompt of ``kind`` and the prompt as a row of its data file."""
    if kind == "math":
        answer = row["answer"]
        if not isinstance(answer, str | int | float) or isinstance(answer, bool) or not str(answer).strip():
            raise ConfigError(f"{where}: `answer` must be a non-empty string or a number")
        if isinstance(answer, str) and "####" in answer:
            return "gsm8k", {"id": ident, "question": text, "answer": answer}
        return "math", {"unique_id": ident, "problem": text, "answer": str(answer)}
    if kind == "code":
        tests = _tests(row, where)
        if tests is None:
            fields = {"test": row.get("test"), "entry_point": row.get("entry_point")}
            for key, value in fields.items():
                if not isinstance(value, str) or not value.strip():
                    raise ConfigError(f"{where}: `{key}` must be a non-empty string")
            return "humaneval", {"task_id": ident, "prompt": text, **fields}
        setup = row.get("test_setup_code", row.get("setup", ""))
        if not isinstance(setup, str):
            raise ConfigError(f"{where}: `setup` must be a string")
        return "mbpp", {"task_id": ident, "text": text, "test_list": tests, "test_setup_code": setup}
    criteria = row.get("criteria")
    reference = row.get("reference", row.get("answer"))
    if criteria is None and reference is not None:
        criteria = f"It agrees with this reference answer: {reference}"
    if not isinstance(criteria, str | None) or (criteria is not None and not criteria.strip()):
        raise ConfigError(f"{where}: `criteria` must be a non-empty string")
    return "golden", {
        "question": text,
        "checker": {"type": "judge", "criteria": criteria or DEFAULT_CRITERIA},
    }


def read_prompts(path: Path, verifier: Verifier = "auto") -> list[Prompt]:
    """The prompts of ``path`` (JSONL), each with its kind and suite row; errors name the file and line."""
    if verifier not in VERIFIERS:
        raise ConfigError(f"unknown verifier {verifier!r} (known: {', '.join(VERIFIERS)})")
    prompts: list[Prompt] = []
    seen: dict[str, int] = {}
    for number, row in read_jsonl(path):
        where = f"{path}:{number}"
        text = _text(row, where)
        given = next((row[key] for key in _ID_KEYS if key in row), None)
        if given is not None and (not isinstance(given, str | int) or isinstance(given, bool)):
            raise ConfigError(f"{where}: `id` must be a string or a number")
        ident = str(given) if given is not None else f"{path.stem}/{number}"
        if ident in seen:
            raise ConfigError(f"{where}: the id {ident!r} was used on line {seen[ident]}")
        seen[ident] = number
        kind = _kind(row, "auto" if verifier == "none" else verifier, where)
        suite, suite_row = _row(kind, ident, text, row, where)
        prompts.append(Prompt(ident, number, kind, suite, text, suite_row))
    if not prompts:
        raise ConfigError(f"{path}: no prompts")
    return prompts


def suite_rows(prompts: Sequence[Prompt]) -> dict[str, list[Mapping[str, Any]]]:
    """The prompts' rows by suite, in prompt order: the data files of ``deepfort eval run SUITE``."""
    rows: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for prompt in prompts:
        rows[prompt.suite].append(prompt.row)
    return dict(rows)


def write_suite_files(prompts: Sequence[Prompt], folder: Path) -> dict[str, Path]:
    """One data file per suite under ``folder`` (``math.jsonl``, ``humaneval.jsonl`` ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for suite, rows in suite_rows(prompts).items():
        path = folder / f"{suite}.jsonl"
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
        files[suite] = path
    return files


def load_items(prompts: Sequence[Prompt], folder: Path) -> dict[str, list[Item]]:
    """Each suite's items for ``prompts``, read by the suite from the files written under ``folder``, and
    named by the prompts' ids (a golden set numbers its items by position)."""
    by_suite: dict[str, list[Prompt]] = defaultdict(list)
    for prompt in prompts:
        by_suite[prompt.suite].append(prompt)
    items: dict[str, list[Item]] = {}
    for suite, path in write_suite_files(prompts, folder).items():
        loaded = SUITES.get(suite)().load(path)
        items[suite] = [replace(item, id=p.id) for item, p in zip(loaded, by_suite[suite], strict=True)]
    return items

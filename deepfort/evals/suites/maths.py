"""Maths suites: GSM8K (a final number) and MATH / MATH-500 (a ``\\boxed{}`` answer), from JSONL as
published.

The prompt is DeepSeek's protocol for R1: the problem, then "Please reason step by step, and put your
final answer within \\boxed{}." (in Chinese for a Chinese problem), no system prompt.

An answer is compared in three steps, cheapest first (:func:`same_answer`):

1. both sides normalised (:func:`normalise_answer`: ``$``, ``\\left``/``\\right``, ``\\dfrac`` and
   ``\\frac12``, ``\\text{}``, units, ``%``, degrees, thousands separators, "x = ") and compared as text;
2. when both are plain rationals (``0.5``, ``1/2``, ``\\frac{1}{2}``, ``5.0``), compared exactly;
3. otherwise math-verify's ``parse``/``verify`` (sympy equivalence: ``\\sqrt{2}/2`` is
   ``\\frac{1}{\\sqrt2}``), in a worker process of its own (:class:`IsolatedVerifier`).

Why a process: math-verify bounds its sympy work with ``signal.alarm``, which only works on a process's
main thread (math-verify #50, #55: ``ValueError: signal only works in main thread``), and the runner
judges from worker threads. Turning its timeout off (``parsing_timeout=None``) would let one pathological
answer (``10^{10^{10}}``) hang the run for good. In the worker, math-verify runs on the main thread with
its own alarms, and the caller also waits at most ``timeout`` seconds, then kills and replaces the worker
and counts the answer as undecided (wrong, said in the verdict's detail).
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import threading
import unicodedata
from collections.abc import Callable
from fractions import Fraction
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import ClassVar

from deepfort.errors import ConfigError
from deepfort.evals.base import Generation, Item, Suite, Verdict
from deepfort.evals.extract import boxed, final_number, is_chinese, normalise_number, strip_think
from deepfort.evals.suites.files import data_files, read_jsonl, text_field, unique

__all__ = [
    "GSM8K",
    "MATH",
    "SUITES",
    "IsolatedVerifier",
    "normalise_answer",
    "same_answer",
    "verify_here",
]

log = logging.getLogger(__name__)

PROMPT_EN = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{{}}."
PROMPT_ZH = "{problem}\n请逐步推理，并把最终答案写在 \\boxed{{}} 中。"

SympyCheck = Callable[[str, str], bool | None]
"""(gold, answer) -> equivalent, or None when the check could not decide (timed out)."""

MAX_SYMPY_CHARS = 400
"""Longer answers skip the sympy step: no benchmark's answer is that long, and sympy's time grows with it."""


def prompt(problem: str) -> str:
    return (PROMPT_ZH if is_chinese(problem) else PROMPT_EN).format(problem=problem.strip())


# -- normalisation ---------------------------------------------------------------------------------------

_SPACING = re.compile(r"\\[!,;:> ]|~")
_UNIT_TEXT = re.compile(r"(?<=[\d}])\s*\\(?:text|mbox|mathrm)\s*\{\s*[A-Za-z. ]+\}(?:\s*\^\s*\{?\d\}?)?\s*$")
_TEXT = re.compile(r"\\(?:text|textbf|textit|mbox|mathrm|mathbf)\s*\{([^{}]*)\}")
# "5 dollars", "3 cm^2", "42元", "3 个": words after a number. English words only after a space, so "2ab"
# (a product) keeps its variables.
_UNIT_WORDS = re.compile(
    r"(?:(?<=[\d}])\s+[A-Za-z]{2,}(?:\s+[A-Za-z]+)*|(?<=[\d}])\s*[\u4e00-\u9fff]+)(?:\s*\^\s*\{?\d\}?)?\s*$"
)
_ASSIGNMENT = re.compile(r"\s*[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?P<value>[^=]+)")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def normalise_answer(answer: str) -> str:
    """One written form of a final answer, for a text comparison: "\\$1{,}000" and "1000 dollars" are
    "1000", "\\dfrac12" is "\\frac{1}{2}", "50\\%" is "50", "90^\\circ" is "90", "x = 5" is "5"."""
    s = unicodedata.normalize("NFKC", answer).replace("\u2212", "-").strip()
    for token in ("\\displaystyle", "\\(", "\\)", "\\[", "\\]"):
        s = s.replace(token, "")
    s = re.sub(r"\\(?:left|right)(?![A-Za-z])", "", s)
    s = re.sub(r"\\[dt]frac(?![A-Za-z])", r"\\frac", s)
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*(\d)\s*\{", r"\\frac{\1}{", s)
    s = re.sub(r"\\frac\s*(\{[^{}]*\})\s*(\d)", r"\\frac\1{\2}", s)
    s = re.sub(r"\\sqrt\s*(\d)", r"\\sqrt{\1}", s)
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?|°", "", s)
    s = s.replace("\\%", "").replace("%", "").replace("\\$", "").replace("$", "")
    s = _SPACING.sub("", s).replace("{,}", ",")
    s = _UNIT_TEXT.sub("", s)
    s = _TEXT.sub(r"\1", s)
    s = _UNIT_WORDS.sub("", s)
    assignment = _ASSIGNMENT.fullmatch(s)
    if assignment:
        s = assignment.group("value")
    s = re.sub(r"\s+", "", s).rstrip(".。")
    s = re.sub(r"^\(([A-Z])\)$", r"\1", s)  # an option letter, "\text{(C)}"
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    return s


_DECIMAL = r"-?(?:\d+(?:\.\d+)?|\.\d+)"
_PLAIN = re.compile(rf"(?P<num>{_DECIMAL})(?:/(?P<den>{_DECIMAL}))?")
_FRAC = re.compile(rf"(?P<sign>-?)\\frac\{{(?P<num>{_DECIMAL})\}}\{{(?P<den>{_DECIMAL})\}}")


def _rational(s: str) -> Fraction | None:
    """A normalised answer as an exact rational, when it is one ("0.5", "1/2", "-\\frac{3}{4}")."""
    match = _PLAIN.fullmatch(s) or _FRAC.fullmatch(s)
    if match is None:
        return None
    value = Fraction(match.group("num"))
    if match.group("den") is not None:
        den = Fraction(match.group("den"))
        if den == 0:
            return None
        value /= den
    return -value if match.groupdict().get("sign") else value


def same_answer(gold: str, answer: str, sympy: SympyCheck) -> bool | None:
    """Whether ``answer`` states ``gold``; None when the sympy step could not decide in time."""
    g, a = normalise_answer(gold), normalise_answer(answer)
    if not a:
        return False
    if g == a:
        return True
    exact_g, exact_a = _rational(g), _rational(a)
    if exact_g is not None and exact_a is not None:
        return exact_g == exact_a
    if len(g) > MAX_SYMPY_CHARS or len(a) > MAX_SYMPY_CHARS:
        return False
    return sympy(g, a)


# -- math-verify, in this process or in a worker of its own ----------------------------------------------


def verify_here(gold: str, answer: str) -> bool:
    """math-verify in this process, with its own timeouts: signal alarms, so call it on the main thread
    (tests do; the suites go through :class:`IsolatedVerifier`)."""
    from math_verify import parse, verify  # type: ignore[import-untyped]

    return bool(verify(parse(f"${gold}$"), parse(f"${answer}$")))


def _serve(conn: Connection) -> None:
    """The worker's loop: a (gold, answer) pair in, a bool out, until the pipe closes."""
    while True:
        try:
            gold, answer = conn.recv()
        except EOFError:
            return
        conn.send(verify_here(gold, answer))


class IsolatedVerifier:
    """:func:`verify_here` in a worker process (spawned on first use, one question at a time), safe to
    call from any thread. A check that takes over ``timeout`` seconds answers None and the worker is
    killed and replaced on the next call."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    def __call__(self, gold: str, answer: str) -> bool | None:
        with self._lock:
            conn = self._connection()
            try:
                conn.send((gold, answer))
                if conn.poll(self.timeout):
                    return bool(conn.recv())
            except (EOFError, OSError) as exc:
                log.warning("math-verify worker failed (%s); starting a new one", exc)
                self._stop()
                return None
            log.warning("math-verify took over %.0f s comparing %.80r with %.80r", self.timeout, answer, gold)
            self._stop()
            return None

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _connection(self) -> Connection:
        if self._conn is None or self._process is None or not self._process.is_alive():
            self._stop()
            context = multiprocessing.get_context("spawn")
            mine, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(theirs,), name="deepfort-math-verify", daemon=True)
            process.start()
            theirs.close()
            self._process, self._conn = process, mine
        return self._conn

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.kill()
            self._process.join()
        self._process = self._conn = None


SYMPY = IsolatedVerifier()
"""The process-wide worker the suites share (daemonic: it ends with this process)."""


# -- suites ----------------------------------------------------------------------------------------------


def _verdict(gold: str, extracted: str | None, generation: Generation, sympy: SympyCheck) -> Verdict:
    truncated = generation.truncated
    if extracted is None:
        cut = " (cut by max_tokens)" if truncated else ""
        return Verdict(False, None, truncated, f"no final answer found{cut}")
    same = same_answer(gold, extracted, sympy)
    if same is None:
        return Verdict(False, extracted, truncated, "the sympy check timed out")
    return Verdict(same, extracted, truncated, "" if same else f"expected {gold}")


class _Maths(Suite):
    def __init__(self, sympy: SympyCheck | None = None) -> None:
        self.sympy: SympyCheck = sympy or SYMPY


class GSM8K(_Maths):
    """GSM8K as published (``{"question", "answer"}``, the answer's reasoning ending "#### 42"), or any
    JSONL in that shape; ``--data`` is a file or a directory of ``*.jsonl``. The reply's final number
    (:func:`~deepfort.evals.extract.final_number`; not merely its last number when it was cut by
    ``max_tokens``) is compared with the gold one."""

    name: ClassVar[str] = "gsm8k"
    help: ClassVar[str] = "GSM8K-style JSONL (question, answer ending '#### N'): the final number."

    def load(self, data: Path) -> list[Item]:
        items: list[Item] = []
        for path in data_files(data, ".jsonl"):
            for number, row in read_jsonl(path):
                where = f"{path}:{number}"
                question = text_field(row, "question", where)
                answer = text_field(row, "answer", where)
                if "####" not in answer:
                    raise ConfigError(f"{where}: `answer` must end with '#### <number>'")
                gold = answer.rsplit("####", 1)[1].strip()
                if not gold:
                    raise ConfigError(f"{where}: nothing after '####' in `answer`")
                ident = str(row.get("id", f"{path.stem}/{number}"))
                items.append(Item(ident, prompt=prompt(question), target=normalise_number(gold)))
        return unique(items, data)

    def judge(self, item: Item, generation: Generation) -> Verdict:
        stated = final_number(generation.content, last_number=not generation.truncated)
        return _verdict(item.target, stated, generation, self.sympy)


_MATH_FIELDS = ("problem", "answer")


def stated_answer(content: str) -> str | None:
    """A MATH answer: the last ``\\boxed{}``, else Minerva's "The final answer is $X$"."""
    box = boxed(content)
    if box is not None:
        return box
    minerva = re.findall(r"(?i:final answer is)\s*\$([^$]+)\$", strip_think(content))
    return minerva[-1].strip() if minerva else None


class MATH(_Maths):
    """MATH / MATH-500 JSONL (``problem``, ``answer``, ``solution``, ``subject``, ``level``,
    ``unique_id``); a file or a directory of ``*.jsonl``. The reply's last ``\\boxed{}`` is compared with
    ``answer`` (:func:`same_answer`); per-subject scores come from ``subject``."""

    name: ClassVar[str] = "math"
    help: ClassVar[str] = "MATH-500-style JSONL (problem, answer, subject, level): the \\boxed{} answer."

    def load(self, data: Path) -> list[Item]:
        items: list[Item] = []
        for path in data_files(data, ".jsonl"):
            for number, row in read_jsonl(path):
                where = f"{path}:{number}"
                problem, answer = (text_field(row, key, where) for key in _MATH_FIELDS)
                subject = row.get("subject", "")
                if not isinstance(subject, str):
                    raise ConfigError(f"{where}: `subject` must be a string")
                ident = str(row.get("unique_id") or f"{path.stem}/{number}")
                extra = {key: row[key] for key in ("level", "solution") if key in row}
                items.append(Item(ident, subject=subject, prompt=prompt(problem), target=answer, data=extra))
        return unique(items, data)

    def judge(self, item: Item, generation: Generation) -> Verdict:
        return _verdict(item.target, stated_answer(generation.content), generation, self.sympy)


SUITES: list[type[Suite]] = [GSM8K, MATH]

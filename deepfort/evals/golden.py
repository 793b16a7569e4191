"""Golden question sets: questions with accepted answers (or a checker), asked of a live server.

One JSON object per line::

    {"question": "中国的首都是哪里？", "answers": ["北京", "Beijing"]}
    {"question": "What is 6 x 7?", "checker": {"type": "number", "value": 42}}
    {"question": "Name a prime above 10", "checker": {"type": "regex", "pattern": "\\\\b(11|13|17|19)\\\\b"}}
    {"question": "用一句话解释 GDP", "checker": {"type": "judge", "criteria": "说出它是一国一定时期的总产出"}}

``answers`` pass when any of them appears in the answer (NFKC, case and spacing folded); checkers are
``contains`` (``value``), ``exact`` (``value``), ``regex`` (``pattern``), ``number`` (``value``,
optional ``tolerance``: the first number in the answer) and ``judge`` (``criteria``: a judge model reads
the question, the criteria and the answer and says PASS or FAIL). Only ``deepfort eval run golden``
asks a judge model; :func:`load_golden` refuses judge items unless its caller can (``judge=True``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepfort.errors import ConfigError

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True)
class GoldenItem:
    question: str
    answers: tuple[str, ...] = ()
    checker: dict[str, Any] | None = None

    @property
    def judged(self) -> bool:
        """Scored by a judge model (a ``judge`` checker), not by :meth:`check`."""
        return self.checker is not None and self.checker["type"] == "judge"

    def check(self, answer: str) -> bool:
        folded = fold(answer)
        if self.answers:
            return any(fold(accepted) in folded for accepted in self.answers)
        assert self.checker is not None
        kind = self.checker["type"]
        if kind == "judge":
            raise ValueError("a judge checker is scored by a judge model, not by check()")
        if kind == "contains":
            return fold(str(self.checker["value"])) in folded
        if kind == "exact":
            return folded.strip(" .。!！") == fold(str(self.checker["value"]))
        if kind == "regex":
            return re.search(str(self.checker["pattern"]), answer) is not None
        match = _NUMBER.search(unicodedata.normalize("NFKC", answer).replace(",", ""))
        if match is None:
            return False
        return abs(float(match.group()) - float(self.checker["value"])) <= float(
            self.checker.get("tolerance", 0)
        )


CHECKERS = {"contains": "value", "exact": "value", "regex": "pattern", "number": "value", "judge": "criteria"}


def load_golden(path: Path, *, judge: bool = False) -> list[GoldenItem]:
    """The items of the golden set at ``path``; ``judge``: the caller can ask a judge model, so ``judge``
    checkers are allowed (else refused, naming the command that can score them)."""
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            question = raw["question"]
            answers = tuple(str(a) for a in raw.get("answers", ()))
            checker = raw.get("checker")
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{number}: not a golden item ({exc})") from None
        if not isinstance(question, str) or not question.strip():
            raise ConfigError(f"{path}:{number}: `question` must be a non-empty string")
        if not answers and checker is None:
            raise ConfigError(f"{path}:{number}: give `answers` or a `checker`")
        if checker is not None:
            kind = checker.get("type") if isinstance(checker, dict) else None
            if kind not in CHECKERS or CHECKERS[kind] not in checker:
                known = ", ".join(f"{k} ({v})" for k, v in CHECKERS.items())
                raise ConfigError(f"{path}:{number}: checker must be one of {known}")
            if kind == "judge":
                criteria = checker["criteria"]
                if not isinstance(criteria, str) or not criteria.strip():
                    raise ConfigError(
                        f"{path}:{number}: a judge checker's `criteria` must be a non-empty string"
                    )
                if not judge:
                    raise ConfigError(
                        f"{path}:{number}: a judge checker needs a judge model: score this set with "
                        f"`deepfort eval run golden --data {path} --judge-url URL --judge-model MODEL`"
                    )
            if kind == "regex":
                try:
                    re.compile(str(checker["pattern"]))
                except re.error as exc:
                    raise ConfigError(f"{path}:{number}: bad regex: {exc}") from None
        items.append(GoldenItem(question, answers, checker))
    if not items:
        raise ConfigError(f"{path}: no questions")
    return items

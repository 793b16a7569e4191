"""The golden-set suite: deepfort's golden question sets (:mod:`deepfort.evals.golden`), scored by their
accepted answers and checkers (exact, contains, regex, number) or by a judge model (``judge``).

A ``judge`` item is scored in two steps the runner drives: :meth:`Golden.judge_request` builds the
question for the judge model, which the runner sends to ``--judge-url`` / ``--judge-model`` (the
model under test when those are not given), and :meth:`Golden.judge_verdict` reads its reply. The judge
must end with a line "VERDICT: PASS" or "VERDICT: FAIL"; anything else is unparsed, never a pass.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from deepfort.errors import ConfigError
from deepfort.evals.base import GenerateRequest, Generation, Item, Suite, Verdict
from deepfort.evals.extract import strip_think
from deepfort.evals.golden import GoldenItem, load_golden

__all__ = ["JUDGE_PROMPT", "SUITES", "Golden"]

JUDGE_PROMPT = """You are grading an answer to a question against the grading criteria.

Question:
{question}

Criteria:
{criteria}

Answer to grade:
{answer}

Judge only whether the answer meets the criteria. Explain briefly, then end your reply with one line \
that is exactly "VERDICT: PASS" or "VERDICT: FAIL"."""

# The last non-empty line, markdown emphasis allowed: "VERDICT: PASS", "**VERDICT: FAIL**".
_VERDICT = re.compile(r"[*_\s]*VERDICT\s*:\s*[*_\s]*(?P<verdict>PASS|FAIL)[*_\s.]*")
_SHOWN = 200


class Golden(Suite):
    """A golden set (JSONL: ``question`` with ``answers`` or a ``checker``); ``--data`` is the file."""

    name: ClassVar[str] = "golden"
    help: ClassVar[str] = "A golden set (JSONL: question + answers or a checker, judge checkers included)."

    def load(self, data: Path) -> list[Item]:
        try:
            golden = load_golden(data, judge=True)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{data}: cannot read it ({exc})") from None
        return [
            Item(f"{data.stem}/{n}", prompt=item.question, target=_target(item), data={"golden": item})
            for n, item in enumerate(golden, start=1)
        ]

    def judge(self, item: Item, generation: Generation) -> Verdict:
        answer = strip_think(generation.content)
        golden = _golden(item)
        if not answer:
            cut = " (cut by max_tokens)" if generation.truncated else ""
            return Verdict(False, None, generation.truncated, f"empty answer{cut}")
        if golden.judged:
            return Verdict(False, None, generation.truncated, "a judge checker needs the judge model's reply")
        correct = golden.check(answer)
        detail = "" if correct else f"expected {item.target}"
        return Verdict(correct, answer[:_SHOWN], generation.truncated, detail)

    def judge_request(self, item: Item, generation: Generation) -> GenerateRequest | None:
        """The judge model's question for a ``judge`` item with an answer, which the runner sends to
        ``--judge-url`` / ``--judge-model``; None for any other item (the runner then calls :meth:`judge`)."""
        golden = _golden(item)
        answer = strip_think(generation.content)
        if not golden.judged or not answer:
            return None
        assert golden.checker is not None
        criteria = golden.checker["criteria"]
        prompt = JUDGE_PROMPT.format(question=golden.question, criteria=criteria, answer=answer)
        return GenerateRequest(({"role": "user", "content": prompt},))

    def judge_verdict(self, item: Item, generation: Generation, reply: Generation) -> Verdict:
        """The judge's reply read strictly: its last non-empty line must be the verdict."""
        answer = strip_think(generation.content)[:_SHOWN]
        lines = [line for line in strip_think(reply.content).splitlines() if line.strip()]
        match = _VERDICT.fullmatch(lines[-1]) if lines else None
        if match is None:
            cut = " (the judge was cut by max_tokens)" if reply.truncated else ""
            return Verdict(False, None, generation.truncated, f"the judge's reply has no VERDICT line{cut}")
        passed = match.group("verdict") == "PASS"
        return Verdict(passed, answer, generation.truncated, f"judge: {match.group('verdict')}")


def _golden(item: Item) -> GoldenItem:
    golden = item.data.get("golden")
    if not isinstance(golden, GoldenItem):
        raise TypeError(f"{item.id}: not an item of the golden suite")
    return golden


def _target(item: GoldenItem) -> str:
    """The gold answer as the report shows it."""
    if item.answers:
        return " | ".join(item.answers)
    assert item.checker is not None
    kind = item.checker["type"]
    if kind == "judge":
        return f"judge: {item.checker['criteria']}"
    if kind == "regex":
        return f"regex: {item.checker['pattern']}"
    return f"{kind}: {item.checker['value']}"


SUITES: list[type[Suite]] = [Golden]

"""``deepfort data clean``: the steps, in order, and the report of what each removed or changed.

1. ``malformed``: lines that are not records (bad JSON, no answer last, unknown roles), and records whose
   question or answer is empty (an answer with reasoning only is left to step 7).
2. ``exact_duplicates``: the same text after NFKC (full-width forms read as ASCII), case folding and
   whitespace runs as one space; the first is kept.
3. ``near_duplicates``: MinHash LSH over token shingles (:mod:`~deepfort.training.dataset.dedup`),
   estimated Jaccard similarity at or above the threshold with a record kept before; the first is kept.
4. ``length``: question and answer characters (after trimming) within the bounds.
5. ``language``: the question and the answer each in an allowed language
   (:mod:`~deepfort.training.dataset.language`); off unless languages are given.
6. ``pii``: personal data masked by the guard's detector and :class:`~deepfort.guard.masking.Masker`,
   one masker per record as the server uses one per request (``[手机号_1]``, the same value the same
   placeholder in every turn of the record); records are changed, not removed.
7. ``refusals``: answers with a refusal or boilerplate phrase, or reasoning only.

Deduplication comes before the filters so that "the first is kept" means the first in the file. Example
texts in the report are masked too, so a report never carries the personal data it counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepfort.config import PiiSettings
from deepfort.guard.masking import Masker, apply_policy
from deepfort.guard.pii import PiiDetector
from deepfort.training.dataset.dedup import DEFAULT_NGRAM, DEFAULT_THRESHOLD, NearDuplicates
from deepfort.training.dataset.language import allowed, languages
from deepfort.training.dataset.records import BadLine, Message, Record, read_jsonl
from deepfort.training.dataset.refusals import Phrases
from deepfort.training.dataset.text import exact_key, record_text

__all__ = ["STEPS", "CleanOptions", "CleanReport", "StepReport", "clean", "clean_file"]

STEPS = ("malformed", "exact_duplicates", "near_duplicates", "length", "language", "pii", "refusals")
EXAMPLE_CHARS = 120


@dataclass(frozen=True, slots=True)
class CleanOptions:
    threshold: float = DEFAULT_THRESHOLD
    ngram: int = DEFAULT_NGRAM
    min_question_chars: int = 2
    max_question_chars: int = 4000
    min_answer_chars: int = 2
    max_answer_chars: int = 16000
    languages: tuple[str, ...] = ()
    """Allowed languages (ISO 639-1); empty: no language filter."""
    pii: PiiSettings = field(default_factory=PiiSettings)
    phrases: Path | None = None
    """A phrase list replacing the built-in ``refusals.txt``."""
    examples: int = 3


@dataclass
class StepReport:
    name: str
    removed: int = 0
    changed: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    """What the step counted by kind: PII kinds masked, refusal categories, languages dropped."""
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "removed": self.removed,
            "changed": self.changed,
            "counts": dict(sorted(self.counts.items())),
            "examples": self.examples,
        }


@dataclass
class CleanReport:
    records_in: int
    records_out: int
    steps: list[StepReport]

    def step(self, name: str) -> StepReport:
        return next(step for step in self.steps if step.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "records_in": self.records_in,
            "records_out": self.records_out,
            "steps": [step.to_dict() for step in self.steps],
        }


class _Run:
    """One clean run's state: the report being written and the masker of example texts."""

    def __init__(self, options: CleanOptions) -> None:
        self.options = options
        self.detector = PiiDetector(options.pii)
        self.steps = {name: StepReport(name) for name in STEPS}

    def example(self, step: str, line: int, text: str, why: str) -> None:
        report = self.steps[step]
        if len(report.examples) < self.options.examples:
            masked = apply_policy("mask", self.detector, [text]).texts[0]
            if len(masked) > EXAMPLE_CHARS:
                masked = masked[: EXAMPLE_CHARS - 1] + "…"
            report.examples.append({"line": line, "text": masked, "why": why})

    def remove(self, step: str, record: Record, why: str, kind: str | None = None) -> None:
        self.steps[step].removed += 1
        if kind is not None:
            self.steps[step].counts[kind] += 1
        self.example(step, record.line, record.question, why)

    def filter(
        self,
        step: str,
        records: Sequence[Record],
        why: Callable[[Record], str | None],
        kind: str | None = None,
    ) -> list[Record]:
        kept = []
        for record in records:
            reason = why(record)
            if reason is None:
                kept.append(record)
            else:
                self.remove(step, record, reason, kind)
        return kept


def clean(
    records: Sequence[Record], options: CleanOptions, bad: Sequence[BadLine] = ()
) -> tuple[list[Record], CleanReport]:
    """Run the steps over records already read (``bad``: the lines that were not records)."""
    run = _Run(options)
    malformed = run.steps["malformed"]
    for line in bad:
        malformed.removed += 1
        malformed.counts["not a record"] += 1
        run.example("malformed", line.line, line.text, line.reason)
    kept = run.filter("malformed", records, _empty, "empty")

    seen: dict[str, int] = {}

    def exact(record: Record) -> str | None:
        key = exact_key(record)
        if key in seen:
            return f"duplicate of line {seen[key]}"
        seen[key] = record.line
        return None

    kept = run.filter("exact_duplicates", kept, exact)
    kept = _near(run, kept)
    kept = run.filter("length", kept, lambda record: _length(record, options))
    if options.languages:
        kept = _language(run, kept)
    kept = _mask(run, kept)
    phrases = Phrases.load(options.phrases)
    out = []
    for record in kept:
        found = phrases.match(record.answer)
        if found is None:
            out.append(record)
        else:
            category, phrase = found
            run.remove("refusals", record, f"{category}: {phrase}" if phrase else category, category)
    report = CleanReport(len(records) + len(bad), len(out), [run.steps[name] for name in STEPS])
    return out, report


def clean_file(path: Path, options: CleanOptions) -> tuple[list[Record], CleanReport]:
    bad: list[BadLine] = []
    records = read_jsonl(path, bad=bad)
    bad.sort(key=lambda line: line.line)
    return clean(records, options, bad)


def _empty(record: Record) -> str | None:
    if not record.question.strip():
        return "empty question"
    answer = record.answer
    if not answer.content.strip() and not answer.reasoning_content:
        return "empty answer"
    return None


def _near(run: _Run, records: Sequence[Record]) -> list[Record]:
    index = NearDuplicates(run.options.threshold, ngram=run.options.ngram)
    kept = []
    for position, record in enumerate(records):
        signature = index.sign(record_text(record))
        match = index.find(signature)
        if match is None:
            index.add(position, signature)
            kept.append(record)
        else:
            first = records[match.key].line
            run.remove("near_duplicates", record, f"similar to line {first} ({match.similarity:.2f})")
    return kept


def _length(record: Record, options: CleanOptions) -> str | None:
    question, answer = len(record.question.strip()), len(record.answer.content.strip())
    if question < options.min_question_chars:
        return f"question of {question} characters < {options.min_question_chars}"
    if question > options.max_question_chars:
        return f"question of {question} characters > {options.max_question_chars}"
    # An answer with reasoning only is not short: the refusal step names it for what it is.
    if answer < options.min_answer_chars and answer:
        return f"answer of {answer} characters < {options.min_answer_chars}"
    if answer > options.max_answer_chars:
        return f"answer of {answer} characters > {options.max_answer_chars}"
    return None


def _language(run: _Run, records: Sequence[Record]) -> list[Record]:
    wanted = run.options.languages
    kept = []
    for record in records:
        for part, text in (("question", record.question), ("answer", record.answer.content)):
            if not allowed(text, wanted):
                found = "+".join(sorted(languages(text)))
                run.remove("language", record, f"{part} in {found}", found)
                break
        else:
            kept.append(record)
    return kept


def _mask(run: _Run, records: Sequence[Record]) -> list[Record]:
    step = run.steps["pii"]
    out = []
    for record in records:
        masker = Masker(run.detector)
        messages = []
        for message in record.messages:
            reasoning = message.reasoning_content
            messages.append(
                Message(
                    message.role, masker.mask(message.content), masker.mask(reasoning) if reasoning else None
                )
            )
        if masker.found:
            step.changed += 1
            step.counts.update(masker.found)
            kinds = ", ".join(sorted(masker.found))
            record = Record(tuple(messages), record.source, record.line)
            if len(step.examples) < run.options.examples:
                step.examples.append(
                    {"line": record.line, "text": record.question[:EXAMPLE_CHARS], "why": kinds}
                )
        out.append(record)
    return out

"""From the teacher's judged answers to SFT data: which answers are kept, which are rejected and why, and
the kept ones as records of ``deepfort data``'s format with the reasoning in ``reasoning_content``
(``deepfort finetune`` trains it as a ``<think>`` block in the student's own template).

An answer is kept when its suite judged it correct, it was not cut by ``max_tokens`` and it has an answer
text (:func:`~deepfort.training.distill.teacher.accepted`). With ``keep="first"`` a prompt's answers are
read up to its first kept one; with ``keep="all"`` every kept answer becomes a record. The user turn is the
prompt exactly as the suite asks it (``deepfort eval`` asks the held-out prompts the same way).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from deepfort.evals.base import Item
from deepfort.evals.cache import AnswerKey
from deepfort.evals.suites import SUITES
from deepfort.training.dataset.records import Message, Record, make_message
from deepfort.training.distill.prompts import KINDS, Kind, Prompt
from deepfort.training.distill.teacher import Keep, accepted

__all__ = ["SOURCE", "Outcome", "Trace", "outcomes", "reason", "sft_records", "verifier_summary"]

SOURCE = "distill"

_WRONG = {"math": "wrong final answer", "code": "tests failed", "judge": "judge: FAIL"}
_UNPARSED = {"math": "no final answer", "code": "no code", "judge": "no verdict from the judge"}


@dataclass(frozen=True, slots=True)
class Trace:
    """One teacher answer and what became of it."""

    sample: int
    kept: bool
    reason: str
    """``passed``, or why it was rejected, in a few words (:func:`reason`)."""
    detail: str
    """The suite's verdict as it gave it (``expected 42``, the test's exception, ``judge: FAIL``)."""
    extracted: str | None
    content: str
    reasoning: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample": self.sample,
            "kept": self.kept,
            "reason": self.reason,
            "detail": self.detail,
            "extracted": self.extracted,
            "content": self.content,
            "reasoning": self.reasoning,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """A training prompt, the item its suite made of it and the teacher's answers, in sample order."""

    prompt: Prompt
    item: Item
    traces: tuple[Trace, ...] = field(default_factory=tuple)

    @property
    def kept(self) -> list[Trace]:
        return [trace for trace in self.traces if trace.kept]


def reason(kind: Kind, answer: Mapping[str, Any]) -> str:
    """Why an answer was rejected (``passed`` when it was not): cut by ``max_tokens``, an empty answer,
    nothing to judge in it (no final answer, no code, no verdict), or judged wrong (the wrong final
    answer, failing or timed-out tests, the judge's FAIL)."""
    if accepted(answer):
        return "passed"
    reply = answer.get("answer") or {}
    if answer.get("truncated"):
        return "cut by max_tokens"
    if not str(reply.get("content") or "").strip():
        return "empty answer"
    if answer.get("extracted") is None:
        return _UNPARSED[kind]
    if kind == "code" and answer.get("extracted") == "timeout":
        return "tests timed out"
    return _WRONG[kind]


def outcomes(
    prompts: Sequence[Prompt],
    items: Mapping[str, Sequence[Item]],
    answers: Mapping[AnswerKey, Mapping[str, Any]],
    *,
    samples: int,
    keep: Keep,
) -> list[Outcome]:
    """Each prompt's answers from the run file (``answers``), read up to ``samples``, and with
    ``keep="first"`` up to the first kept one."""
    item_of = {(suite, item.id): item for suite, group in items.items() for item in group}
    found = []
    for prompt in prompts:
        traces = []
        for sample in range(samples):
            answer = answers.get((prompt.suite, prompt.id, sample, "generate"))
            if answer is None:
                continue
            reply = answer.get("answer") or {}
            why = reason(prompt.kind, answer)
            traces.append(
                Trace(
                    sample=sample,
                    kept=why == "passed",
                    reason=why,
                    detail=str(answer.get("detail") or ""),
                    extracted=answer.get("extracted"),
                    content=str(reply.get("content") or ""),
                    reasoning=str(reply.get("reasoning") or ""),
                )
            )
            if why == "passed" and keep == "first":
                break
        found.append(Outcome(prompt, item_of[(prompt.suite, prompt.id)], tuple(traces)))
    return found


def sft_records(found: Sequence[Outcome]) -> list[Record]:
    """One record per kept answer: the prompt as its suite asks it, the answer with its reasoning."""
    records = []
    suites = {name: SUITES.get(name)() for name in {outcome.prompt.suite for outcome in found}}
    for outcome in found:
        asked = suites[outcome.prompt.suite].generate(outcome.item).messages
        question = [
            make_message(m["role"], m["content"], where=f"{outcome.prompt.id}: messages[{i}]")
            for i, m in enumerate(asked)
        ]
        for trace in outcome.kept:
            answer = Message("assistant", trace.content.strip(), trace.reasoning.strip() or None)
            records.append(Record((*question, answer), SOURCE))
    return records


def verifier_summary(found: Sequence[Outcome]) -> dict[str, dict[str, Any]]:
    """Per verifier kind: prompts, answers read, kept and rejected, prompts with a kept answer, and the
    rejections counted by reason."""
    summary: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        mine = [outcome for outcome in found if outcome.prompt.kind == kind]
        if not mine:
            continue
        traces = [trace for outcome in mine for trace in outcome.traces]
        reasons = Counter(trace.reason for trace in traces if not trace.kept)
        summary[kind] = {
            "prompts": len(mine),
            "answers": len(traces),
            "kept": sum(trace.kept for trace in traces),
            "rejected": len(traces) - sum(trace.kept for trace in traces),
            "prompts_kept": sum(bool(outcome.kept) for outcome in mine),
            "reasons": dict(reasons.most_common()),
        }
    return summary

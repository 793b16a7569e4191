"""Asking the teacher: ``samples`` answers per prompt, each judged by its eval suite, through ``deepfort
eval``'s runner and run file.

The runner already does what rejection sampling needs: sample ``i`` is asked with ``seed + i``, the
reasoning comes apart from the answer whatever field (or ``<think>`` block) the server puts it in, the
suite's verdict and its reason are stored with the answer, and every answer is appended to a JSONL run
file as it arrives, so that running the same command again asks only what is missing
(:mod:`deepfort.evals.cache`).

``keep="first"`` asks in rounds: sample 0 of every prompt, then sample 1 of the prompts that have no
passing answer yet, and so on up to ``samples``; a prompt stops costing teacher calls once it has one.
``keep="all"`` asks every prompt ``samples`` times at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from deepfort.evals.base import GenerateRequest, Generation, Item, Suite, Verdict
from deepfort.evals.cache import AnswerKey, RunFile
from deepfort.evals.client import EvalClient
from deepfort.evals.runner import EvalOptions, ProgressSink, SuitePlan, run_suites
from deepfort.evals.suites import SUITES

__all__ = ["Keep", "PromptSuite", "accepted", "ask_teacher", "plans_of"]

Keep = Literal["first", "all"]


class PromptSuite(Suite):
    """A suite's items given in memory rather than read from ``--data``: asked and judged by the suite
    they belong to, under its name (so its run-file keys and metric are that suite's). ``verify=False``
    keeps every answer unjudged (``--verifier none``): no sandbox run, no judge call."""

    name: ClassVar[str] = "prompts"

    def __init__(self, suite: Suite, items: Sequence[Item], *, verify: bool = True) -> None:
        self.suite = suite
        self.items = list(items)
        self.verify = verify
        self.name = suite.name  # type: ignore[misc]  # per instance: the suite it stands for

    def load(self, data: Path) -> list[Item]:
        return list(self.items)

    def generate(self, item: Item) -> GenerateRequest:
        return self.suite.generate(item)

    def judge(self, item: Item, generation: Generation) -> Verdict:
        if not self.verify:
            return Verdict(True, "kept", generation.truncated, "not verified (--verifier none)")
        return self.suite.judge(item, generation)

    def judge_request(self, item: Item, generation: Generation) -> GenerateRequest | None:
        asks = getattr(self.suite, "judge_request", None)
        return asks(item, generation) if asks is not None and self.verify else None

    def judge_verdict(self, item: Item, generation: Generation, reply: Generation) -> Verdict:
        verdict: Verdict = self.suite.judge_verdict(item, generation, reply)  # type: ignore[attr-defined]
        return verdict


def plans_of(items: Mapping[str, Sequence[Item]], data: Path, *, verify: bool = True) -> list[SuitePlan]:
    """One ``generate`` plan per suite with items; ``data`` is only what the run file records."""
    return [
        SuitePlan(PromptSuite(SUITES.get(suite)(), group, verify=verify), data, "generate")
        for suite, group in items.items()
        if group
    ]


def accepted(answer: Mapping[str, Any]) -> bool:
    """An answer the SFT data may keep: judged correct, not cut by ``max_tokens``, with an answer text."""
    reply = answer.get("answer") or {}
    content = reply.get("content") if isinstance(reply, Mapping) else None
    return bool(answer.get("correct")) and not answer.get("truncated") and bool((content or "").strip())


def _passed(run: RunFile, plan: SuitePlan, item: Item, samples: int) -> bool:
    for sample in range(samples):
        answer = run.data.answers.get((plan.name, item.id, sample, "generate"))
        if answer is not None and accepted(answer):
            return True
    return False


async def ask_teacher(
    plans: Sequence[SuitePlan],
    teacher: EvalClient,
    run: RunFile,
    options: EvalOptions,
    *,
    samples: int,
    keep: Keep = "first",
    judge: EvalClient | None = None,
    progress: ProgressSink | None = None,
) -> set[AnswerKey]:
    """Ask ``teacher`` up to ``samples`` answers per item (see the module's doc); returns the run-file keys
    of the answers this distillation reads."""
    if keep == "all":
        options = replace(options, samples=samples)
        return await run_suites(plans, teacher, run, options, judge=judge, progress=progress)
    covered: set[AnswerKey] = set()
    for round_ in range(samples):
        pending = []
        for plan in plans:
            assert isinstance(plan.suite, PromptSuite)
            left = [item for item in plan.suite.items if not _passed(run, plan, item, round_)]
            if left:
                pending.append(
                    replace(plan, suite=PromptSuite(plan.suite.suite, left, verify=plan.suite.verify))
                )
        if not pending:
            break
        options = replace(options, samples=round_ + 1)
        covered |= await run_suites(pending, teacher, run, options, judge=judge, progress=progress)
    return covered

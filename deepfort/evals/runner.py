"""Run suites against one model: plan which suite reads which data in which mode, ask what the run file
lacks (``concurrency`` requests in flight), judge each answer off the event loop and append it.

Sample ``i`` of a question is asked with ``seed + i``, so a rerun asks the same thing and a server that
honours seeds answers the same. ``loglikelihood`` mode is deterministic: only sample 0 is asked, whatever
``samples`` says. The first request that fails for good (after the client's retries) stops the run;
every answer received before it is already in the run file, so running the same command again goes on
where it stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from deepfort.evals.base import MODES, GenerateRequest, Generation, Item, Mode, Suite, Verdict
from deepfort.evals.cache import AnswerKey, RunFile, RunParams, read_run, request_hash
from deepfort.evals.client import EvalClient, EvalError, Reply, SamplingParams
from deepfort.evals.report import DEFAULT_KS, build_report
from deepfort.evals.suites import SUITES

__all__ = [
    "CODE_SUITES",
    "EvalOptions",
    "ProgressSink",
    "SuitePlan",
    "metric_of",
    "parse_assignments",
    "plan_suites",
    "run_suites",
    "run_to_report",
]

CODE_SUITES = frozenset({"humaneval", "mbpp"})
"""Suites scored as pass@1 (and pass@k), unless the suite class says so itself with ``metric``."""


def metric_of(suite: Suite) -> str:
    """``pass@1`` for code suites, ``accuracy`` for the rest."""
    declared = getattr(type(suite), "metric", None)
    if isinstance(declared, str):
        return declared
    return "pass@1" if suite.name in CODE_SUITES else "accuracy"


@dataclass(frozen=True, slots=True)
class SuitePlan:
    """One suite of a run: which data it reads and in which mode."""

    suite: Suite
    data: Path
    mode: Mode

    @property
    def name(self) -> str:
        return self.suite.name


@dataclass(frozen=True, slots=True)
class EvalOptions:
    """How a run asks. ``sampling.seed`` is the base seed (sample i uses seed + i); ``judge_sampling``
    is what a judge model is asked with (greedy by default)."""

    sampling: SamplingParams = field(default_factory=SamplingParams)
    samples: int = 1
    limit: int | None = None
    concurrency: int = 8
    judge_sampling: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.0))

    def for_sample(self, index: int) -> SamplingParams:
        seed = self.sampling.seed
        return replace(self.sampling, seed=None if seed is None else seed + index)


class ProgressSink(Protocol):
    """Told as a run goes: the CLI draws a progress bar, the API keeps counts."""

    def suite_started(self, suite: str, total: int, cached: int) -> None: ...

    def answered(self, suite: str) -> None: ...


def parse_assignments(
    values: Iterable[str], names: Sequence[str], what: str
) -> tuple[str | None, dict[str, str]]:
    """Split ``--data``/``--mode`` values into one for every suite and ``SUITE=VALUE`` ones.

    A value is per-suite when the text before its first ``=`` names one of the run's suites; anything
    else (a path may contain ``=``) is the value for every suite. Given twice for one suite: an error.
    """
    common: str | None = None
    per_suite: dict[str, str] = {}
    for value in values:
        head, sep, tail = value.partition("=")
        if sep and head in names:
            if head in per_suite:
                raise EvalError(f"{what} for suite {head!r} is given twice")
            per_suite[head] = tail
        elif common is not None:
            raise EvalError(f"{what} is given twice; for several suites write SUITE={what.upper()}")
        else:
            common = value
    return common, per_suite


def plan_suites(names: Sequence[str], data: Sequence[str] = (), modes: Sequence[str] = ()) -> list[SuitePlan]:
    """Look each suite up and settle its data and mode; every problem is an error before anything is asked."""
    if not names:
        raise EvalError(f"name at least one suite (known: {', '.join(SUITES.names())})")
    if len(set(names)) != len(names):
        raise EvalError("a suite is named twice")
    common_data, data_by_suite = parse_assignments(data, names, "--data")
    common_mode, mode_by_suite = parse_assignments(modes, names, "--mode")
    plans = []
    for name in names:
        suite = SUITES.get(name)()
        mode = mode_by_suite.get(name, common_mode) or suite.modes[0]
        if mode not in suite.modes:
            known = ", ".join(suite.modes)
            if mode not in MODES:
                raise EvalError(f"unknown mode {mode!r} (modes: {', '.join(MODES)})")
            raise EvalError(f"suite {name!r} has no {mode} mode (it has: {known})")
        given = data_by_suite.get(name, common_data)
        path = Path(given).expanduser() if given else suite.default_data()
        if path is None:
            raise EvalError(
                f"suite {name!r} needs its questions: give --data PATH ({suite.help or 'a local file'})"
            )
        if not path.exists():
            raise EvalError(f"suite {name!r}: no file or directory at {path}")
        plans.append(SuitePlan(suite, path, mode))
    return plans


@dataclass
class _Unit:
    plan: SuitePlan
    item: Item
    sample: int
    key: AnswerKey
    hash: str
    request: Any  # GenerateRequest, or the LoglikelihoodRequests of an item


def _reply_record(generation: Generation) -> dict[str, Any]:
    return {
        "content": generation.content,
        "reasoning": generation.reasoning,
        "finish_reason": generation.finish_reason,
        "completion_tokens": generation.completion_tokens,
        "reasoning_tokens": generation.reasoning_tokens,
        "tokens_estimated": isinstance(generation, Reply) and generation.tokens_estimated,
    }


def _verdict_record(verdict: Verdict, truncated: bool) -> dict[str, Any]:
    return {
        "correct": bool(verdict.correct),
        "extracted": verdict.extracted,
        "truncated": bool(verdict.truncated or truncated),
        "detail": verdict.detail,
    }


class _Run:
    def __init__(
        self,
        client: EvalClient,
        run_file: RunFile,
        options: EvalOptions,
        judge: EvalClient | None,
        progress: ProgressSink | None,
    ) -> None:
        self.client = client
        self.judge = judge or client
        self.run_file = run_file
        self.options = options
        self.progress = progress
        self.semaphore = asyncio.Semaphore(max(1, options.concurrency))

    def units(self, plan: SuitePlan, items: Sequence[Item]) -> list[_Unit]:
        units = []
        samples = 1 if plan.mode == "loglikelihood" else max(1, self.options.samples)
        for item in items:
            for sample in range(samples):
                request: Any
                if plan.mode == "generate":
                    request = plan.suite.generate(item)
                    wire: Any = [dict(m) for m in request.messages]
                    sampling = self.options.for_sample(sample).body()
                else:
                    request = list(plan.suite.loglikelihood(item))
                    wire = [[r.context, r.continuation] for r in request]
                    sampling = {}
                key = (plan.name, item.id, sample, plan.mode)
                units.append(_Unit(plan, item, sample, key, request_hash(plan.mode, wire, sampling), request))
        return units

    async def ask(self, unit: _Unit) -> None:
        async with self.semaphore:
            started = time.time()
            record: dict[str, Any] = {
                "suite": unit.plan.name,
                "item": unit.item.id,
                "sample": unit.sample,
                "mode": unit.plan.mode,
                "hash": unit.hash,
                "subject": unit.item.subject,
                "target": unit.item.target,
            }
            if unit.plan.mode == "generate":
                record.update(await self._generate(unit))
                record["requests"] = 1 + ("judge" in record)
            else:
                scores = [await self.client.loglikelihood(r) for r in unit.request]
                verdict = await asyncio.to_thread(unit.plan.suite.choose, unit.item, scores)
                record["scores"] = [[s.logprob, s.is_greedy] for s in scores]
                record.update(_verdict_record(verdict, False))
                record["requests"] = len(scores)
            record["started"] = started
            record["t"] = time.time()
        self.run_file.append(record)
        if self.progress is not None:
            self.progress.answered(unit.plan.name)

    async def _generate(self, unit: _Unit) -> dict[str, Any]:
        suite, item = unit.plan.suite, unit.item
        request: GenerateRequest = unit.request
        generation = await self.client.generate(request, self.options.for_sample(unit.sample))
        fields: dict[str, Any] = {"answer": _reply_record(generation)}
        judge_request: Callable[[Item, Generation], GenerateRequest | None] | None
        judge_request = getattr(suite, "judge_request", None)
        asked = judge_request(item, generation) if judge_request is not None else None
        if asked is not None:
            reply = await self.judge.generate(asked, self.options.judge_sampling)
            fields["judge"] = _reply_record(reply)
            verdict = await asyncio.to_thread(suite.judge_verdict, item, generation, reply)  # type: ignore[attr-defined]
        else:
            verdict = await asyncio.to_thread(suite.judge, item, generation)
        fields.update(_verdict_record(verdict, generation.truncated))
        return fields


async def load_items(plan: SuitePlan, limit: int | None) -> list[Item]:
    """The plan's items (the first ``limit``), checked for repeated ids."""
    items = await asyncio.to_thread(plan.suite.load, plan.data)
    if limit is not None:
        items = items[: max(0, limit)]
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise EvalError(f"suite {plan.name!r}: item id {item.id!r} appears twice in {plan.data}")
        seen.add(item.id)
    return items


async def run_suites(
    plans: Sequence[SuitePlan],
    client: EvalClient,
    run_file: RunFile,
    options: EvalOptions,
    *,
    judge: EvalClient | None = None,
    progress: ProgressSink | None = None,
) -> set[AnswerKey]:
    """Ask every (item, sample) of ``plans`` the run file lacks, suite after suite; returns the keys the
    run covers (asked now or found in the file), which is what its report is about."""
    run = _Run(client, run_file, options, judge, progress)
    covered: set[AnswerKey] = set()
    for plan in plans:
        items = await load_items(plan, options.limit)
        units = run.units(plan, items)
        missing = [u for u in units if run_file.cached(u.key, u.hash) is None]
        covered.update(u.key for u in units)
        run_file.suite(
            {
                "suite": plan.name,
                "mode": plan.mode,
                "metric": metric_of(plan.suite),
                "data": str(plan.data),
                "items": len(items),
                "samples": len(units) // len(items) if items else 0,
            }
        )
        if progress is not None:
            progress.suite_started(plan.name, len(units), len(units) - len(missing))
        await _gather(run.ask(u) for u in missing)
    return covered


async def run_to_report(
    plans: Sequence[SuitePlan],
    client: EvalClient,
    path: Path,
    options: EvalOptions,
    params: RunParams,
    *,
    judge: EvalClient | None = None,
    progress: ProgressSink | None = None,
    url: str = "",
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, Any]:
    """:func:`run_suites` into the run file at ``path`` (opened for ``params``, resumed when it exists),
    then the report of the answers this run covers."""
    with RunFile.open(path, params, url=url) as run:
        keys = await run_suites(plans, client, run, options, judge=judge, progress=progress)
    return build_report(read_run(path), keys, ks=ks)


async def _gather(work: Iterable[Any]) -> None:
    """Run every coroutine; the first failure cancels the rest and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            for coroutine in work:
                group.create_task(coroutine)
    except BaseExceptionGroup as failed:
        raise _first(failed) from None


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def judge_params(sampling: SamplingParams) -> SamplingParams:
    """A judge answers greedily, with as many tokens as the run allows its model."""
    return SamplingParams(temperature=0.0, max_tokens=sampling.max_tokens, seed=sampling.seed)

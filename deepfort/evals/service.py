"""Eval runs inside a server: ``POST /v1/evals`` starts one against the server's own models, in the
background; its progress and report are read back while it runs and after.

    service = EvalService(data_dir / "evals", on_score=metrics.eval_score)
    await service.start()                    # the latest score per model and suite, back on the gauge
    run = service.submit(spec, transport, api_key)
    service.record(run.id)                   # status, progress; report(run.id) reads the run file

Each run has a run file ``<id>.jsonl`` (the same format as ``deepfort eval run --run-file``, so
``deepfort eval report`` and ``compare`` read it) and a small ``<id>.json`` beside it: the spec, the
status, the scores. Runs go one at a time (an eval shares the slots with live traffic; a second waits,
``queued``). The requests go through the server's own HTTP app (``transport``), with the key of the
admin who started the run: quota, records, metrics and audit see them as that key's requests. A run a
restart cut short is listed as ``interrupted``; its answers stay in its run file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from deepfort.errors import DeepfortError, NotFoundError
from deepfort.evals.cache import RunFile, RunParams, read_run
from deepfort.evals.client import EvalClient, SamplingParams
from deepfort.evals.report import build_report
from deepfort.evals.runner import EvalOptions, SuitePlan, judge_params, plan_suites, run_suites

__all__ = ["EvalService", "EvalSpec", "EvalStatus"]

log = logging.getLogger(__name__)

EvalStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
ScoreSink = Callable[[str, str, float], None]
"""``(model, suite, score)``: the Prometheus gauge."""


class EvalSpec(BaseModel):
    """What ``POST /v1/evals`` takes: the options of ``deepfort eval run``. ``data`` and ``mode`` are
    one value for every suite or ``SUITE=VALUE`` each; data paths are files on the server."""

    suites: list[str] = Field(
        min_length=1, max_length=20, description="Suites, as `deepfort eval suites` lists."
    )
    model: str | None = Field(default=None, description="A model this server serves; default: its first.")
    data: list[str] = Field(default_factory=list, description="PATH, or SUITE=PATH (files on the server).")
    mode: list[str] = Field(default_factory=list, description="generate | loglikelihood, or SUITE=MODE.")
    limit: int | None = Field(default=None, ge=1)
    samples: int = Field(default=1, ge=1, le=200)
    temperature: float = Field(default=0.6, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int = 0
    concurrency: int = Field(default=4, ge=1, le=256)
    judge_model: str | None = None


@dataclass
class _Run:
    id: str
    spec: EvalSpec
    model: str
    plans: list[SuitePlan]
    status: EvalStatus = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    progress: dict[str, dict[str, int]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None

    def suite_started(self, suite: str, total: int, cached: int) -> None:
        self.progress[suite] = {"total": total, "done": cached}

    def answered(self, suite: str) -> None:
        self.progress[suite]["done"] += 1

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "eval.run",
            "status": self.status,
            "model": self.model,
            "suites": self.spec.suites,
            "spec": self.spec.model_dump(),
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "progress": self.progress,
            "scores": self.scores,
        }


class EvalService:
    """Eval runs of one server; see the module docstring."""

    def __init__(self, directory: Path, on_score: ScoreSink | None = None) -> None:
        self.directory = directory
        self.on_score = on_score
        self._runs: dict[str, _Run] = {}
        self._one_at_a_time = asyncio.Lock()

    def path(self, run_id: str, suffix: str) -> Path:
        return self.directory / f"{run_id}{suffix}"

    async def start(self) -> None:
        """Put the latest finished score of each model and suite back on the gauge."""
        records = await asyncio.to_thread(self._stored)
        if self.on_score is None:
            return
        for record in sorted(records, key=lambda r: r.get("finished_at") or 0):
            if record.get("status") == "succeeded":
                for suite, score in (record.get("scores") or {}).items():
                    self.on_score(str(record["model"]), suite, float(score))

    def plan(self, spec: EvalSpec) -> list[SuitePlan]:
        """The spec's suites, data and modes, checked (raises :class:`EvalError` before anything runs)."""
        return plan_suites(spec.suites, spec.data, spec.mode)

    def submit(
        self, spec: EvalSpec, model: str, transport: httpx.AsyncBaseTransport, api_key: str | None
    ) -> _Run:
        """Start a run in the background (queued behind a running one)."""
        run = _Run(id=f"eval-{uuid.uuid4().hex[:16]}", spec=spec, model=model, plans=self.plan(spec))
        self._runs[run.id] = run
        self.directory.mkdir(parents=True, exist_ok=True)
        self._save(run)
        run.task = asyncio.create_task(self._execute(run, transport, api_key), name=run.id)
        return run

    async def _execute(self, run: _Run, transport: httpx.AsyncBaseTransport, api_key: str | None) -> None:
        spec = run.spec
        sampling = SamplingParams(spec.temperature, spec.top_p, spec.max_tokens, spec.seed)
        options = EvalOptions(sampling, spec.samples, spec.limit, spec.concurrency, judge_params(sampling))
        params = RunParams(
            run.model, spec.temperature, spec.top_p, spec.max_tokens, spec.seed, spec.judge_model
        )
        path = self.path(run.id, ".jsonl")
        try:
            async with self._one_at_a_time:
                run.status, run.started_at = "running", time.time()
                await asyncio.to_thread(self._save, run)
                async with contextlib.AsyncExitStack() as stack:
                    client = EvalClient("http://deepfort/v1", run.model, api_key=api_key, transport=transport)
                    stack.push_async_callback(client.aclose)
                    judge = None
                    if spec.judge_model is not None:
                        judge = EvalClient(
                            "http://deepfort/v1", spec.judge_model, api_key=api_key, transport=transport
                        )
                        stack.push_async_callback(judge.aclose)
                    with RunFile.open(path, params, url="in process") as run_file:
                        await run_suites(run.plans, client, run_file, options, judge=judge, progress=run)
                report = await asyncio.to_thread(build_report, read_run(path))
                run.scores = {name: suite["score"] for name, suite in report["suites"].items()}
                run.status = "succeeded"
                if self.on_score is not None:
                    for suite, score in run.scores.items():
                        self.on_score(run.model, suite, score)
        except asyncio.CancelledError:
            run.status = "cancelled"
            raise
        except DeepfortError as exc:
            run.status, run.error = "failed", exc.message
        except Exception as exc:  # a background task: say what failed in the run's record, and log it
            log.exception("eval run %s failed", run.id)
            run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            run.finished_at = time.time()
            self._save(run)

    def _save(self, run: _Run) -> None:
        target = self.path(run.id, ".json")
        partial = target.with_suffix(".json.tmp")
        partial.write_text(json.dumps(run.record(), ensure_ascii=False))
        partial.replace(target)

    def _stored(self) -> list[dict[str, Any]]:
        records = []
        if not self.directory.is_dir():
            return []
        for path in self.directory.glob("eval-*.json"):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                log.warning("unreadable eval record %s", path)
                continue
            if isinstance(record, dict) and "id" in record:
                records.append(record)
        return records

    async def list_runs(self) -> list[dict[str, Any]]:
        """Every run, newest first: the live ones as they are, the others as their records were left."""
        stored = {r["id"]: r for r in await asyncio.to_thread(self._stored)}
        for run_id, run in self._runs.items():
            stored[run_id] = run.record()
        for record in stored.values():
            if record["id"] not in self._runs and record.get("status") in ("queued", "running"):
                record["status"] = "interrupted"  # the server stopped while it ran
        return sorted(stored.values(), key=lambda r: r.get("created_at") or 0, reverse=True)

    async def get(self, run_id: str) -> dict[str, Any]:
        """One run's record, with its report so far (read from its run file)."""
        run = self._runs.get(run_id)
        if run is not None:
            record = run.record()
        else:
            stored = {r["id"]: r for r in await asyncio.to_thread(self._stored)}
            if run_id not in stored:
                raise NotFoundError(f"no eval run {run_id!r}", param="id")
            record = stored[run_id]
            if record.get("status") in ("queued", "running"):
                record["status"] = "interrupted"
        record["report"] = await self.report(run_id)
        return record

    async def report(self, run_id: str) -> dict[str, Any] | None:
        path = self.path(run_id, ".jsonl")
        if not path.is_file():
            if run_id not in self._runs and not self.path(run_id, ".json").is_file():
                raise NotFoundError(f"no eval run {run_id!r}", param="id")
            return None  # queued: nothing asked yet
        return await asyncio.to_thread(lambda: build_report(read_run(path)))

    async def cancel(self, run_id: str) -> dict[str, Any]:
        run = self._runs.get(run_id)
        if run is None:
            return await self.get(run_id)  # not running here: nothing to stop
        if run.task is not None and not run.task.done():
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run.task
        return run.record()

    async def close(self) -> None:
        """Stop the runs in progress; they are left ``interrupted`` (their answers are kept)."""
        tasks = [run.task for run in self._runs.values() if run.task is not None and not run.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for run in self._runs.values():
            if run.status == "cancelled" and run.task in tasks:
                run.status = "interrupted"
                self._save(run)

"""One distillation, end to end: prompts -> held-out split -> teacher answers, judged -> SFT data -> the
student evaluated on the held-out prompts -> LoRA fine-tune -> the student with its adapter evaluated on
the same prompts -> ``OUT/distill.json``.

The student is served by whoever calls (:data:`StudentServer`: the CLI loads it in this process through
the real app, as ``deepfort eval`` does), with the trained GGUF adapter applied per request as the model
id ``<student>:<adapter>``. Fine-tuning needs the ``train`` extra; it is imported only when it runs.

What ``OUT`` holds:

============================  ===================================================================
``prompts/train/*.jsonl``     the training prompts in their eval suites' formats
``prompts/heldout/*.jsonl``   the held-out prompts, the same (``deepfort eval run SUITE --data``)
``teacher.jsonl``             the teacher's answers with their verdicts: a run file, resumed on rerun
``sft.jsonl``                 the kept answers as SFT records, reasoning in ``reasoning_content``
``finetune/``                 ``deepfort finetune``'s output (``adapter.gguf``, ``report.json``...)
``eval/before.jsonl``         the student's held-out answers before, and ``eval/after.jsonl`` after
``distill.json``              the report
============================  ===================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from deepfort.errors import DeepfortError
from deepfort.evals.cache import RunFile, RunParams, read_run
from deepfort.evals.client import EvalClient, SamplingParams
from deepfort.evals.compare import compare_runs
from deepfort.evals.report import build_report as eval_report
from deepfort.evals.runner import EvalOptions, ProgressSink, judge_params, run_to_report
from deepfort.training.dataset.records import write_jsonl
from deepfort.training.distill.heldout import split_prompts
from deepfort.training.distill.prompts import Verifier, load_items, read_prompts
from deepfort.training.distill.report import build_report, write_report
from deepfort.training.distill.teacher import Keep, ask_teacher, plans_of
from deepfort.training.distill.traces import outcomes, sft_records

if TYPE_CHECKING:
    from deepfort.training.finetune.trainer import FinetuneResult, StepEvent

__all__ = ["DistillError", "DistillOptions", "DistillProgress", "StudentServer", "distill"]

StudentServer = Callable[[Path | None], AbstractAsyncContextManager[EvalClient]]
"""Serves the student, with the GGUF LoRA adapter at the given path applied (None: the student alone),
and gives a client that asks it."""


class DistillError(DeepfortError):
    """A distillation cannot go on (the teacher passed no verifier, nothing is left to train on)."""


class DistillProgress(ProgressSink, Protocol):
    """Told as a distillation goes: each phase as it starts, the eval runner's answers, the fine-tune's
    steps."""

    def phase(self, name: str) -> None: ...

    def step(self, event: StepEvent) -> None: ...


@dataclass(frozen=True)
class DistillOptions:
    """One distillation. ``finetune`` holds :class:`~deepfort.training.finetune.trainer.FinetuneOptions`
    fields passed on as given (steps, r, lr ...); ``base``, ``data`` and ``out`` are set here."""

    prompts: Path
    student: Path
    out: Path
    verifier: Verifier = "auto"
    samples: int = 4
    keep: Keep = "first"
    eval_share: float = 0.2
    seed: int = 0
    concurrency: int = 8
    teacher_sampling: SamplingParams = field(
        default_factory=lambda: SamplingParams(temperature=0.6, top_p=0.95)
    )
    eval_sampling: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.0))
    adapter: str = "distilled"
    train_base: Path | None = None
    """The student as the fine-tune reads it, when not its GGUF: a Hugging Face directory of the same
    model (its own weights rather than the GGUF's dequantized ones)."""
    finetune: Mapping[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if self.samples < 1:
            raise DistillError("--samples must be at least 1")
        if not 0.0 < self.eval_share < 1.0:
            raise DistillError(f"--eval-share must be between 0 and 1, got {self.eval_share}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompts": str(self.prompts),
            "student": str(self.student),
            "out": str(self.out),
            "verifier": self.verifier,
            "samples": self.samples,
            "keep": self.keep,
            "eval_share": self.eval_share,
            "seed": self.seed,
            "teacher_sampling": self.teacher_sampling.body(),
            "eval_sampling": self.eval_sampling.body(),
            "adapter": self.adapter,
            "train_base": str(self.train_base or self.student),
            "finetune": dict(self.finetune),
        }


def _params(model: str, sampling: SamplingParams, judge: EvalClient | None) -> RunParams:
    return RunParams(
        model,
        sampling.temperature,
        sampling.top_p,
        sampling.max_tokens,
        sampling.seed,
        judge_model=judge.model if judge is not None else None,
    )


def _train(options: DistillOptions, data: Path, progress: DistillProgress | None) -> FinetuneResult:
    from deepfort.training.finetune.trainer import FinetuneOptions, finetune

    settings: dict[str, Any] = {"seed": options.seed, **options.finetune}
    base = options.train_base or options.student
    chosen = FinetuneOptions(base=base, data=data, out=options.out / "finetune", **settings)
    return finetune(chosen, progress.step if progress is not None else None)


async def distill(
    options: DistillOptions,
    teacher: EvalClient,
    student: StudentServer,
    *,
    judge: EvalClient | None = None,
    progress: DistillProgress | None = None,
) -> dict[str, Any]:
    """Run one distillation (see the module's doc) and return its report, also written to
    ``OUT/distill.json``. ``judge`` grades the prompts that need a judge model, the teacher's answers and
    the student's alike (default: the teacher)."""
    options.check()
    out = options.out
    prompts = read_prompts(options.prompts, options.verifier)
    train, heldout = split_prompts(prompts, options.eval_share, options.seed)
    train_items = load_items(train, out / "prompts" / "train")
    heldout_items = load_items(heldout, out / "prompts" / "heldout")
    if progress is not None:
        progress.phase("teacher")
    sampling = replace(options.teacher_sampling, seed=options.seed)
    asking = EvalOptions(
        sampling=sampling, concurrency=options.concurrency, judge_sampling=judge_params(sampling)
    )
    plans = plans_of(train_items, options.prompts, verify=options.verifier != "none")
    teacher_file = out / "teacher.jsonl"
    params = _params(teacher.model, sampling, judge)
    if teacher_file.is_file() and (differences := params.differences(read_run(teacher_file).params)):
        raise DistillError(
            f"{teacher_file} holds answers asked with other settings: {'; '.join(differences)}. Rerun with "
            "the same teacher options, or give another -o."
        )
    with RunFile.open(teacher_file, params, url=teacher.base_url) as run:
        keys = await ask_teacher(
            plans,
            teacher,
            run,
            asking,
            samples=options.samples,
            keep=options.keep,
            judge=judge,
            progress=progress,
        )
    answered = read_run(teacher_file)
    found = outcomes(train, train_items, answered.answers, samples=options.samples, keep=options.keep)
    records = sft_records(found)
    sft_file = out / "sft.jsonl"
    write_jsonl(sft_file, records)
    report: dict[str, Any] = {
        "options": options.as_dict(),
        "train": train,
        "heldout": heldout,
        "found": found,
        "teacher": {
            "url": teacher.base_url,
            "model": teacher.model,
            "judge": (judge or teacher).model,
            "run_file": str(teacher_file),
            "requests": teacher.requests,
            "report": eval_report(answered, keys),
        },
        "sft": {
            "file": str(sft_file),
            "examples": len(records),
            "with_reasoning": sum(bool(r.answer.reasoning_content) for r in records),
        },
        "finetune": None,
        "before": None,
        "after": None,
        "comparison": None,
    }
    if not records:
        write_report(build_report(**report), out / "distill.json")
        raise DistillError(
            f"no teacher answer passed its verifier ({len(found)} prompts, {options.samples} samples each): "
            f"nothing to train on; see {out / 'distill.json'}"
        )

    evaluating = EvalOptions(
        sampling=options.eval_sampling,
        concurrency=options.concurrency,
        judge_sampling=judge_params(options.eval_sampling),
    )
    grader = judge or teacher  # never the student grading itself
    heldout_plans = plans_of(heldout_items, out / "prompts" / "heldout")

    async def evaluate(label: str, adapter: Path | None) -> dict[str, Any]:
        if progress is not None:
            progress.phase(f"eval {label}")
        path = out / "eval" / f"{label}.jsonl"
        path.unlink(missing_ok=True)  # a new adapter answers anew: never resume an older run's answers
        async with student(adapter) as client:
            params = _params(client.model, options.eval_sampling, grader)
            return await run_to_report(
                heldout_plans,
                client,
                path,
                evaluating,
                params,
                judge=grader,
                progress=progress,
                url="in process",
            )

    report["before"] = await evaluate("before", None)
    if progress is not None:
        progress.phase("finetune")
    # On this thread: a Ctrl-C stops the training at once (a worker thread would run on to its end).
    trained = _train(options, sft_file, progress)
    if trained.adapter_gguf is None:
        raise DistillError("the fine-tune wrote no GGUF adapter")
    report["finetune"] = {
        "out": str(trained.out),
        "report": str(trained.out / "report.json"),
        "adapter_gguf": str(trained.adapter_gguf),
        "steps": trained.report.get("steps"),
        "final_loss": trained.report.get("final_loss"),
    }
    report["after"] = await evaluate("after", trained.adapter_gguf)
    report["comparison"] = compare_runs(
        read_run(out / "eval" / "before.jsonl"), read_run(out / "eval" / "after.jsonl")
    )
    built = build_report(**report)
    write_report(built, out / "distill.json")
    return built

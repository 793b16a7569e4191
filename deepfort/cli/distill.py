"""``deepfort distill PROMPTS --teacher-url URL --teacher-model M --student GGUF -o OUT``: a teacher's
verified answers become SFT data, the student is fine-tuned on them and evaluated before and after on a
held-out split, in one report. The student is served in this process (as ``deepfort eval`` serves a
model), with the trained adapter applied per request as ``<student>:<adapter>``."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from deepfort.cli.common import err_console, fail, settings_or_exit
from deepfort.cli.evaluate import DEFAULT_TEMPERATURE, DEFAULT_TOP_P, EvalProgress, serve_in_process
from deepfort.cli.finetune import require_train_extra
from deepfort.config import LocalModel, LoraAdapter, Settings
from deepfort.evals.client import EvalClient, SamplingParams
from deepfort.training.distill.prompts import VERIFIERS
from deepfort.training.distill.report import print_summary
from deepfort.training.distill.run import DistillOptions, StudentServer
from deepfort.training.distill.run import distill as run_distill

if TYPE_CHECKING:
    from deepfort.training.finetune.trainer import StepEvent

EPILOG = (
    "PROMPTS: JSONL, a prompt with its reference per line: `answer` (maths), `test` + `entry_point` or "
    "`tests` (code), or `criteria` for a judge model (docs/distill.md). Resumable: run the same command "
    "again and only the teacher answers missing from OUT/teacher.jsonl are asked."
)
ADAPTER = "distilled"


class DistillBars(EvalProgress):
    """One bar per phase and suite (the teacher's rounds add to their suite's bar) and one for the
    fine-tune's steps, on stderr."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        super().__init__(console, enabled)
        self.current = ""

    def phase(self, name: str) -> None:
        self.current = name

    def suite_started(self, suite: str, total: int, cached: int) -> None:
        label = f"{self.current}: {suite}"
        if label in self.tasks:  # a later round of the teacher asks what an earlier one left
            task = self.tasks[label]
            self.progress.update(task, total=(self.progress.tasks[task].total or 0) + total - cached)
            return
        note = f" ({cached} from the run file)" if cached else ""
        self.tasks[label] = self.progress.add_task(label + note, total=total, completed=cached)

    def answered(self, suite: str) -> None:
        self.progress.advance(self.tasks[f"{self.current}: {suite}"])

    def step(self, event: StepEvent) -> None:
        if "finetune" not in self.tasks:
            self.tasks["finetune"] = self.progress.add_task("finetune", total=event.total)
        description = f"finetune (loss {event.loss:.4f})"
        self.progress.update(self.tasks["finetune"], completed=event.step, description=description)


def _student_id(gguf: Path) -> str:
    return gguf.stem.lower().replace(":", "-") or "student"


def student_server(settings: Settings, gguf: Path, adapter_name: str = ADAPTER) -> StudentServer:
    """The student GGUF served in this process, with a GGUF LoRA adapter as ``lora`` entry when one is
    given, asked under ``<student>:<adapter name>``."""

    student_path = gguf.resolve()

    @asynccontextmanager
    async def serve(adapter: Path | None) -> AsyncIterator[EvalClient]:
        lora = [LoraAdapter(name=adapter_name, path=adapter)] if adapter is not None else []
        spec = LocalModel(id=_student_id(gguf), path=student_path, lora=lora)
        async with serve_in_process(settings, spec) as (transport, served):
            model = f"{served}:{adapter_name}" if adapter is not None else served
            async with EvalClient("http://deepfort/v1", model, transport=transport) as client:
                yield client

    return serve


def distill(
    prompts: Annotated[Path, typer.Argument(help="Prompt set (JSONL): a prompt and its reference per line.")],
    teacher_url: Annotated[
        str, typer.Option(help="The teacher's OpenAI-compatible base URL (a center, vLLM, DeepSeek's API).")
    ],
    teacher_model: Annotated[str, typer.Option(help="The teacher's model id.")],
    student: Annotated[Path, typer.Option(help="The student: a GGUF file (served for the evals).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (a rerun resumes in it).")],
    teacher_key: Annotated[
        str | None, typer.Option(help="The teacher's API key; env DEEPFORT_TEACHER_API_KEY.")
    ] = None,
    samples: Annotated[int, typer.Option(min=1, help="Teacher answers per prompt at most.")] = 4,
    keep: Annotated[
        str, typer.Option(help="first: a prompt's first passing answer (and stop asking); all: every one.")
    ] = "first",
    verifier: Annotated[
        str, typer.Option(help=f"{' | '.join(VERIFIERS)}: what checks an answer (auto: the prompt's fields).")
    ] = "auto",
    judge_url: Annotated[
        str | None, typer.Option(help="Judge model's server. Default: the teacher's.")
    ] = None,
    judge_model: Annotated[str | None, typer.Option(help="Judge model. Default: the teacher.")] = None,
    judge_key: Annotated[str | None, typer.Option(help="The judge server's API key.")] = None,
    eval_share: Annotated[float, typer.Option(help="Share of the prompts held out for the eval.")] = 0.2,
    temperature: Annotated[
        float, typer.Option(min=0.0, max=2.0, help="The teacher's temperature.")
    ] = DEFAULT_TEMPERATURE,
    top_p: Annotated[float, typer.Option(min=0.0, max=1.0, help="The teacher's top-p.")] = DEFAULT_TOP_P,
    max_tokens: Annotated[
        int | None,
        typer.Option(min=1, help="Longest teacher answer, reasoning included. Default: the server's."),
    ] = None,
    eval_max_tokens: Annotated[
        int | None,
        typer.Option(min=1, help="Longest student answer in the eval (greedy). Default: its context."),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight.")] = 8,
    steps: Annotated[int | None, typer.Option(min=1, help="Fine-tune steps (overrides --epochs).")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Fine-tune passes over the kept traces.")] = 3,
    r: Annotated[int, typer.Option("--r", min=1, help="LoRA rank.")] = 16,
    alpha: Annotated[int, typer.Option(min=1, help="LoRA alpha.")] = 32,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 2e-4,
    batch_size: Annotated[int, typer.Option(min=1, help="Examples per step.")] = 8,
    max_len: Annotated[int, typer.Option(min=16, help="Tokens per training example at most.")] = 1024,
    target: Annotated[str, typer.Option(help="Modules to adapt, comma-separated.")] = "q_proj,v_proj",
    train_base: Annotated[
        Path | None,
        typer.Option(help="The student as a Hugging Face directory, to train from. Default: its GGUF."),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the split, the teacher's samples and the fine-tune.")
    ] = 0,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML settings for serving the student here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Distil a teacher into a student: verified answers with their reasoning, LoRA SFT, eval before and
    after on a held-out split.

    Writes OUT/distill.json: prompts, teacher answers kept and rejected (by verifier, with the reasons),
    the SFT file, the fine-tune's report and the held-out scores before and after with a paired
    comparison."""
    require_train_extra("distill")
    if keep not in ("first", "all"):
        fail(f"--keep must be first or all, not {escape(keep)!r}")
    if verifier not in VERIFIERS:
        fail(f"--verifier must be one of {', '.join(VERIFIERS)}, not {escape(verifier)!r}")
    if not student.is_file():
        fail(f"--student must be a GGUF file: {escape(str(student))}")
    options = DistillOptions(
        prompts=prompts,
        student=student,
        out=out,
        verifier=verifier,
        samples=samples,
        keep=keep,  # type: ignore[arg-type]
        eval_share=eval_share,
        seed=seed,
        concurrency=concurrency,
        teacher_sampling=SamplingParams(temperature=temperature, top_p=top_p, max_tokens=max_tokens),
        eval_sampling=SamplingParams(temperature=0.0, max_tokens=eval_max_tokens, seed=0),
        adapter=ADAPTER,
        train_base=train_base,
        finetune={
            "steps": steps,
            "epochs": epochs,
            "r": r,
            "alpha": alpha,
            "lr": lr,
            "batch_size": batch_size,
            "max_len": max_len,
            "target": tuple(t.strip() for t in target.split(",") if t.strip()),
        },
    )
    key = teacher_key or os.environ.get("DEEPFORT_TEACHER_API_KEY")
    settings = settings_or_exit(config)

    async def go(bars: DistillBars) -> dict[str, Any]:
        async with AsyncExitStack() as stack:
            teacher = await stack.enter_async_context(EvalClient(teacher_url, teacher_model, api_key=key))
            judge = None
            if judge_url is not None or judge_model is not None:
                judge = await stack.enter_async_context(
                    EvalClient(
                        judge_url or teacher_url, judge_model or teacher_model, api_key=judge_key or key
                    )
                )
            serve = student_server(settings, student)
            return await run_distill(options, teacher, serve, judge=judge, progress=bars)

    try:
        bars = DistillBars(err_console)
        with bars:
            report = asyncio.run(go(bars))
    except KeyboardInterrupt:
        fail("interrupted; the teacher's answers so far are in OUT/teacher.jsonl: run the command again")
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        print_summary(report, Console())

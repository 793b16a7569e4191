"""``deepfort finetune BASE DATA -o OUT``: LoRA on a GGUF or Hugging Face model, exported as a GGUF LoRA
adapter llama.cpp loads, with a report. torch, transformers, peft and accelerate come with the ``train``
extra; they are imported only when the command runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from deepfort.cli.common import err_console, fail

if TYPE_CHECKING:
    from deepfort.training.finetune.trainer import StepEvent

TRAIN_EXTRA = "pip install 'deepfort[train]'"
EPILOG = (
    'Data: OpenAI messages JSONL, one {"messages": [...]} per line; an assistant turn\'s reasoning_content '
    "is trained as a <think> block. Several GPUs or machines: accelerate launch -m deepfort finetune ... "
    "with a DeepSpeed or FSDP config (docs/finetune.md)."
)


def require_train_extra(command: str = "finetune") -> None:
    """Fail saying what to install when the ``train`` extra is missing (torch, transformers, peft ...)."""
    try:
        import deepfort.training.finetune.trainer  # noqa: F401
    except ImportError as exc:
        fail(escape(f"deepfort {command} needs the train extra ({exc.name} is missing): {TRAIN_EXTRA}"))


def finetune(
    base: Annotated[Path, typer.Argument(help="Base model: a GGUF file or a Hugging Face directory.")],
    data: Annotated[Path, typer.Argument(help="Training data: OpenAI messages JSONL.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    eval_file: Annotated[Path | None, typer.Option("--eval", help="Eval data (messages JSONL).")] = None,
    mix: Annotated[
        Path | None, typer.Option("--mix", help="General data mixed in against forgetting.")
    ] = None,
    mix_share: Annotated[float, typer.Option("--mix-share", help="Share of each epoch from --mix.")] = 0.2,
    r: Annotated[int, typer.Option("--r", help="LoRA rank.")] = 16,
    alpha: Annotated[
        int, typer.Option("--alpha", help="LoRA alpha (the update is scaled by alpha / r).")
    ] = 32,
    dropout: Annotated[float, typer.Option("--dropout", help="LoRA dropout.")] = 0.1,
    target: Annotated[
        str, typer.Option("--target", help="Modules to adapt, comma-separated.")
    ] = "q_proj,v_proj",
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the data.")] = 3,
    steps: Annotated[
        int | None, typer.Option("--steps", help="Optimizer steps (overrides --epochs).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Examples per step.")] = 8,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 2e-4,
    max_len: Annotated[int, typer.Option("--max-len", help="Tokens per example at most.")] = 1024,
    eval_every: Annotated[int, typer.Option("--eval-every", help="Eval loss every N steps.")] = 50,
    save_every: Annotated[int, typer.Option("--save-every", help="Checkpoint every N steps.")] = 100,
    resume: Annotated[bool, typer.Option("--resume", help="Go on from OUT's latest checkpoint.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the data order, dropout and init.")] = 0,
    merge: Annotated[
        bool,
        typer.Option(
            "--merge",
            help="Also write the base with the adapter merged: OUT/merged.gguf for a GGUF base, OUT/merged/ "
            "(Hugging Face) for a directory.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Fine-tune a LoRA adapter on chat data; writes a GGUF adapter llama.cpp loads.

    Defaults: r 16, alpha 32, q_proj+v_proj, dropout 0.1; the loss on the answers only, in the model's
    own chat template."""
    require_train_extra()
    from deepfort.training.finetune.trainer import FinetuneOptions
    from deepfort.training.finetune.trainer import finetune as run

    options = FinetuneOptions(
        base=base,
        data=data,
        out=out,
        eval=eval_file,
        mix=mix,
        mix_share=mix_share,
        r=r,
        alpha=alpha,
        dropout=dropout,
        target=tuple(t.strip() for t in target.split(",") if t.strip()),
        epochs=epochs,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        max_len=max_len,
        eval_every=eval_every,
        save_every=save_every,
        resume=resume,
        seed=seed,
        merge=merge,
    )
    with Progress(
        TextColumn("[bold]finetune"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("eval {task.fields[eval]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=as_json,
    ) as bar:
        task = bar.add_task("steps", total=None, loss="-", eval="-")

        def step(event: StepEvent) -> None:
            bar.update(task, completed=event.step, total=event.total, loss=f"{event.loss:.4f}")
            if event.eval_loss is not None:
                bar.update(task, eval=f"{event.eval_loss:.4f}")

        result = run(options, progress=step)
    report = result.report
    if as_json:
        typer.echo(json.dumps({k: v for k, v in report.items() if k != "history"}))
        return
    before, after = report.get("eval_before"), report.get("eval_after")
    lines = [
        f"trained {report['trainable_parameters']:,} parameters for {report['steps']} steps "
        f"in {report['seconds']:.1f} s on {report['device']}; final loss {report['final_loss']:.4f}",
        f"eval loss {before:.4f} -> {after:.4f}" if before is not None and after is not None else "",
        f"adapter: {result.adapter_dir} (peft), {result.adapter_gguf} (GGUF for llama.cpp --lora)",
        _merged_line(result.merged),
        f"report: {options.out / 'report.json'}, {options.out / 'loss.png'}",
    ]
    typer.echo("\n".join(line for line in lines if line))


def _merged_line(merged: Path | None) -> str:
    if merged is None:
        return ""
    if merged.suffix == ".gguf":
        return f"merged: {merged} (the base with the adapter in its weights: serve or quantize it)"
    return (
        f"merged: {merged} (Hugging Face); for llama.cpp convert it to GGUF first (docs/quantize.md, "
        '"From a Hugging Face directory"), or fine-tune from a GGUF base'
    )

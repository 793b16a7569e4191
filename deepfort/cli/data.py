"""``deepfort data``: datasets for fine-tuning, OpenAI messages JSONL in and out (see docs/data.md)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from deepfort.cli.common import err_console, settings_or_exit
from deepfort.training.dataset.clean import CleanOptions, CleanReport, clean_file
from deepfort.training.dataset.dedup import DEFAULT_THRESHOLD
from deepfort.training.dataset.importers import FORMATS, import_file
from deepfort.training.dataset.records import DataError, read_jsonl, write_jsonl
from deepfort.training.dataset.split import split as split_records
from deepfort.training.dataset.stats import stats as dataset_stats
from deepfort.training.dataset.synth import SynthOptions, Teacher, synthesize

app = typer.Typer(help="Datasets for fine-tuning: import, clean, synth, split, stats.", no_args_is_help=True)
console = Console()


@app.command("import")
def import_(
    sources: Annotated[
        list[Path], typer.Argument(help="Alpaca, ShareGPT or OpenAI JSON/JSONL, or CSV files.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The JSONL file to write.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}; auto tells by the keys.")
    ] = "auto",
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="CSV columns: question=COL,answer=COL[,system=COL,reasoning=COL], or COL,COL in that order.",
        ),
    ] = None,
) -> None:
    """Read datasets in any supported format into one OpenAI messages JSONL file."""
    if fmt not in FORMATS:
        raise DataError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    chosen = [name.strip() for name in columns.split(",")] if columns else None
    records = []
    for source in sources:
        found = import_file(source, fmt, chosen)
        err_console.print(f"{escape(str(source))}: {len(found)} records", highlight=False)
        records.extend(found)
    count = write_jsonl(out, records)
    with_reasoning = sum(1 for record in records if record.answer.reasoning_content)
    typer.echo(f"wrote {count} records to {out} ({with_reasoning} with reasoning)")


def print_report(report: CleanReport, target: Console) -> None:
    table = Table(title=f"deepfort data clean: {report.records_in} in, {report.records_out} out")
    for column in ("step", "removed", "changed", "by kind", "example"):
        table.add_column(column, justify="right" if column in ("removed", "changed") else "left")
    for step in report.steps:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(step.counts.items()))
        example = step.examples[0] if step.examples else None
        shown = f"line {example['line']}: {example['why']}" if example else ""
        table.add_row(step.name, str(step.removed), str(step.changed), escape(kinds), escape(shown))
    target.print(table)


@app.command("clean")
def clean(
    source: Annotated[Path, typer.Argument(help="OpenAI messages JSONL (what `data import` writes).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The cleaned JSONL file.")],
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Write the report as JSON here.")
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="Near-duplicate MinHash Jaccard similarity threshold.")
    ] = DEFAULT_THRESHOLD,
    min_question_chars: Annotated[int, typer.Option(help="Shortest question kept.")] = 2,
    max_question_chars: Annotated[int, typer.Option(help="Longest question kept.")] = 4000,
    min_answer_chars: Annotated[int, typer.Option(help="Shortest answer kept.")] = 2,
    max_answer_chars: Annotated[int, typer.Option(help="Longest answer kept.")] = 16000,
    lang: Annotated[
        str | None, typer.Option("--lang", help="Allowed languages, e.g. zh,en (ISO 639-1). Default: all.")
    ] = None,
    phrases: Annotated[
        Path | None, typer.Option(help="Refusal/boilerplate phrase list (category<TAB>phrase lines).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Settings file whose pii section picks detectors.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Remove malformed records, duplicates, near duplicates, wrong lengths and languages, refusals; mask
    personal data. The report counts what each step removed or changed."""
    options = CleanOptions(
        threshold=threshold,
        min_question_chars=min_question_chars,
        max_question_chars=max_question_chars,
        min_answer_chars=min_answer_chars,
        max_answer_chars=max_answer_chars,
        languages=tuple(part.strip() for part in lang.split(",") if part.strip()) if lang else (),
        pii=settings_or_exit(config).guard.pii,
        phrases=phrases,
    )
    records, report = clean_file(source, options)
    write_jsonl(out, records)
    data = report.to_dict()
    if report_path is not None:
        report_path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
    else:
        print_report(report, console)


@app.command("synth")
def synth(
    seed_file: Annotated[Path, typer.Argument(help="Seed records (OpenAI messages JSONL).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL to append to (resumed if it exists).")],
    url: Annotated[str, typer.Option(help="The teacher's OpenAI-compatible base URL, e.g. http://host/v1.")],
    model: Annotated[str, typer.Option("--model", "-m", help="The teacher model.")],
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="DEEPFORT_TEACHER_API_KEY", help="The teacher's key.")
    ] = None,
    n: Annotated[int, typer.Option("--n", "-n", help="Generated records wanted in OUT.")] = 100,
    k: Annotated[int, typer.Option(help="Example questions shown per round.")] = 4,
    per_request: Annotated[int, typer.Option(help="New questions asked for per round.")] = 5,
    concurrency: Annotated[int, typer.Option(help="Requests in flight.")] = 4,
    rouge: Annotated[float, typer.Option(help="Drop a question with ROUGE-L at or above this.")] = 0.7,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds per teacher request.")] = 600.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Generate new questions and answers from a teacher model, self-instruct style."""
    seeds = read_jsonl(seed_file)
    options = SynthOptions(
        n=n, k=k, per_request=per_request, concurrency=concurrency, threshold=rouge, seed=seed
    )

    async def go() -> dict[str, Any]:
        progress = Progress(
            TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console
        )
        task = progress.add_task("synth", total=n)
        async with httpx.AsyncClient(timeout=timeout) as client:
            teacher = Teacher(client, url, model, api_key)
            with progress:
                result = await synthesize(
                    seeds, out, teacher, options, on_record=lambda done: progress.update(task, completed=done)
                )
        return {**result.to_dict(), "requests": teacher.requests}

    summary = asyncio.run(go())
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(
            f"{summary['generated']} new records in {out} ({summary['existing']} were there); dropped: "
            f"{summary['too_close_to_seed']} close to a seed, {summary['too_close_to_generated']} close to "
            f"another, {summary['too_short']} too short, {summary['empty_answers']} empty answers"
        )
    if summary["gave_up"]:
        err_console.print(
            f"[yellow]warning:[/] stopped at {summary['existing'] + summary['generated']} of {n}: the "
            "teacher gave no new question for several rounds"
        )


@app.command("split")
def split(
    source: Annotated[Path, typer.Argument(help="OpenAI messages JSONL.")],
    train: Annotated[Path, typer.Option("--train", help="Training records go here.")],
    eval_: Annotated[Path, typer.Option("--eval", help="Held-out records go here.")],
    eval_share: Annotated[float, typer.Option(help="Share of records held out.")] = 0.1,
    eval_n: Annotated[
        int | None, typer.Option(help="Number of records held out (wins over the share).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Which records are held out, deterministically.")] = 0,
) -> None:
    """Split into train and eval files; near-duplicate groups stay on one side."""
    train_records, eval_records = split_records(
        read_jsonl(source), eval_share=eval_share, eval_n=eval_n, seed=seed
    )
    write_jsonl(train, train_records)
    write_jsonl(eval_, eval_records)
    typer.echo(f"{len(train_records)} records to {train}, {len(eval_records)} to {eval_}")


@app.command("stats")
def stats(
    source: Annotated[Path, typer.Argument(help="OpenAI messages JSONL.")],
    gguf: Annotated[
        Path | None,
        typer.Option(help="Count tokens with this GGUF's tokenizer. Default: the embedded model."),
    ] = None,
    tokens: Annotated[bool, typer.Option("--tokens/--no-tokens", help="Count tokens too.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Records, turns, languages, lengths, reasoning share and duplicates left."""
    records = read_jsonl(source)
    model = None
    if tokens:
        from deepfort.config import embedded_model_path
        from deepfort.engines.llamacpp.model import LlamaModel

        model = LlamaModel(gguf or embedded_model_path(), vocab_only=True)
    try:
        count = (lambda text: len(model.tokenize(text, add_special=False))) if model is not None else None
        data = dataset_stats(records, count_tokens=count)
    finally:
        if model is not None:
            model.close()
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    console.print(
        f"{data['records']} records, {data['turns']} turns ({data['multi_turn']} multi-turn, "
        f"{data['with_system']} with a system prompt), {data['reasoning_share']:.0%} with reasoning; "
        f"duplicates left: {data['exact_duplicates']} exact, {data['near_duplicates']} near",
        highlight=False,
    )
    console.print(
        "languages: " + ", ".join(f"{name} {count}" for name, count in data["languages"].items()),
        highlight=False,
    )
    table = Table(title="lengths")
    table.add_column("part")
    table.add_column("unit")
    for name in ("p50", "p90", "p99", "max"):
        table.add_column(name, justify="right")
    for unit in ("chars", "tokens"):
        for part, summary in data.get(unit, {}).items():
            table.add_row(part, unit, *(str(summary[name]) for name in ("p50", "p90", "p99", "max")))
    console.print(table)

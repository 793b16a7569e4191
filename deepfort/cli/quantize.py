"""``deepfort quantize IN OUT --type T``: quantize a GGUF through llama.cpp, then measure the input and the
output the same way (size, bits per weight, speed, perplexity, a greedy answer, and a golden set or eval
suites run in process through ``deepfort eval``'s own runner) and print the delta."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from deepfort.cli.common import err_console, fail
from deepfort.cli.evaluate import EvalProgress, eval_target
from deepfort.errors import ConfigError
from deepfort.evals.cache import RunParams
from deepfort.evals.client import SamplingParams
from deepfort.evals.runner import EvalOptions, SuitePlan, plan_suites, run_to_report
from deepfort.training.quant.heldout import HELDOUT_TEXT
from deepfort.training.quant.measure import Measurement, MeasureOptions, measure_model
from deepfort.training.quant.quantizer import HF_DIRECTORY_HELP, check_input, quantize_file
from deepfort.training.quant.types import QUANT_TYPES, UNQUANTIZED, file_type_name, parse_type

EPILOG = (
    f"Types: {', '.join(QUANT_TYPES)}. A Hugging Face directory is not accepted as IN: {HF_DIRECTORY_HELP}. "
    "Merging a LoRA adapter first is not offered: llama.cpp's library has no merge call (its "
    "llama-export-lora is a separate tool); serve the adapter on the quantized model instead."
)


def _suite_plans(golden: Path | None, suites: list[str], data: list[str]) -> list[SuitePlan]:
    names = list(suites)
    assignments = list(data)
    if golden is not None:
        if not golden.is_file():
            raise ConfigError(f"golden set not found: {golden}")
        names.append("golden")
        assignments.append(f"golden={golden}")
    return plan_suites(names, assignments) if names else []


async def _evaluate(
    model: Path, plans: list[SuitePlan], options: EvalOptions, run_file: Path
) -> dict[str, Any]:
    """The suites' report of ``model``, served in this process as ``deepfort eval run --model PATH``."""
    async with eval_target(None, str(model), None, None, None, None, None) as target:
        sampling = options.sampling
        params = RunParams(
            target.client.model, sampling.temperature, sampling.top_p, sampling.max_tokens, sampling.seed
        )
        with EvalProgress(err_console) as bar:
            return await run_to_report(
                plans, target.client, run_file, options, params, progress=bar, url=target.url
            )


def _scores(report: dict[str, Any] | None) -> dict[str, float]:
    if report is None:
        return {}
    return {name: float(suite["score"]) for name, suite in report["suites"].items()}


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _print_table(result: dict[str, Any], console: Console) -> None:
    rows = [("input", result["input"]), ("output", result["output"])]
    suites = sorted(set(_scores(result["input"].get("eval"))) | set(_scores(result["output"].get("eval"))))
    table = Table(title=f"{escape(result['input']['file_type'])} -> {result['type'].upper()}")
    for column in ("", "file", "type", "size", "bits/weight", "prompt t/s", "decode t/s", "perplexity"):
        table.add_column(column, justify="left" if column in ("", "file", "type") else "right")
    for suite in suites:
        table.add_column(suite, justify="right")
    for label, row in rows:
        scores = _scores(row.get("eval"))
        table.add_row(
            label,
            escape(Path(row["path"]).name),
            row["file_type"],
            _size(row["size_bytes"]),
            f"{row['bits_per_weight']:.2f}",
            f"{row['prompt_tps']:.0f}",
            f"{row['decode_tps']:.1f}",
            f"{row['perplexity']:.3f}",
            *(f"{scores[s]:.1%}" if s in scores else "-" for s in suites),
        )
    console.print(table)
    delta = result["delta"]
    console.print(
        f"size {delta['size_ratio']:.2f}x, perplexity {delta['perplexity']:+.3f} "
        f"({delta['perplexity_ratio'] - 1:+.2%}) on {result['eval_text']['scored_tokens']} tokens of "
        f"{escape(result['eval_text']['source'])} (windows of {result['eval_text']['n_ctx']}, second halves "
        "scored)",
        highlight=False,
    )
    for label, row in rows:
        console.print(f"{label} answers: {escape(row['answer'])!r}", highlight=False)


def quantize(
    source: Annotated[
        Path, typer.Argument(metavar="IN", help="A GGUF model (f16/bf16/f32 for best results).")
    ],
    target: Annotated[Path, typer.Argument(metavar="OUT", help="The GGUF to write (replaced if it exists).")],
    qtype: Annotated[str, typer.Option("--type", "-t", help="q8_0, q4_k_m, q4_0, q5_k_m, f16, ... (below).")],
    allow_requantize: Annotated[
        bool,
        typer.Option(
            "--allow-requantize", help="Quantize an already quantized IN (loses more than from f16)."
        ),
    ] = False,
    threads: Annotated[
        int | None, typer.Option(min=1, help="Threads for quantizing and measuring. Default: all cores.")
    ] = None,
    measure: Annotated[bool, typer.Option(help="Measure IN and OUT after quantizing.")] = True,
    eval_text: Annotated[
        Path | None, typer.Option(help="Held-out text for perplexity (UTF-8). Default: a built-in one.")
    ] = None,
    ctx_size: Annotated[int, typer.Option(min=16, help="Perplexity window in tokens.")] = 512,
    n_prompt: Annotated[int, typer.Option(min=1, help="Prompt tokens of the speed run.")] = 512,
    n_gen: Annotated[int, typer.Option(min=1, help="Generated tokens of the speed run.")] = 128,
    golden: Annotated[Path | None, typer.Option(help="A golden set (JSONL) to ask both models.")] = None,
    suite: Annotated[
        list[str] | None, typer.Option(help="An eval suite to run on both models. Repeatable.")
    ] = None,
    data: Annotated[
        list[str] | None, typer.Option(help="Suite data: PATH, or SUITE=PATH. Repeatable.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the first N questions of each suite.")
    ] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Longest eval answer.")] = 256,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Quantize a GGUF with llama.cpp and measure the quality and speed it costs.

    Both IN and OUT are measured: size, bits per weight, prompt and decode tokens/s, perplexity on a
    held-out text (llama-perplexity's method) and, when given, a golden set or eval suites (greedy). OUT
    appears only when quantizing succeeded."""
    chosen = parse_type(qtype)
    plans = _suite_plans(golden, suite or [], data or [])
    text = HELDOUT_TEXT
    if eval_text is not None:
        try:
            text = eval_text.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read --eval-text {eval_text}: {exc}") from None
    n_threads = threads or os.cpu_count() or 1
    check_input(source, chosen, allow_requantize=allow_requantize)
    if not target.parent.is_dir():
        raise ConfigError(f"output directory not found: {target.parent}")
    started = time.monotonic()
    progress = Progress(
        TextColumn("quantizing to " + chosen.name.upper()),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
    )
    try:
        with progress:
            task = progress.add_task("", total=None)
            in_type = quantize_file(
                source,
                target,
                chosen,
                threads=n_threads,
                allow_requantize=allow_requantize,
                progress=lambda done, total, tensor: progress.update(
                    task, completed=done, total=total, description=tensor
                ),
            )
    except KeyboardInterrupt:
        fail(f"interrupted; {escape(str(target))} was not written")
    quantize_s = time.monotonic() - started
    err_console.print(f"wrote {escape(str(target))} in {quantize_s:.1f} s", highlight=False)
    if not measure:
        if as_json:
            typer.echo(json.dumps({"object": "quantize.result", "output": str(target), "type": chosen.name}))
        return
    options = MeasureOptions(text=text, n_ctx=ctx_size, threads=n_threads, n_prompt=n_prompt, n_gen=n_gen)
    measured: dict[str, Measurement] = {}
    for label, path in (("input", source), ("output", target)):
        with err_console.status(f"measuring the {label} ({escape(path.name)})"):
            measured[label] = measure_model(path, options)
    reports: dict[str, dict[str, Any] | None] = {"input": None, "output": None}
    if plans:
        sampling = SamplingParams(temperature=0.0, max_tokens=max_tokens, seed=0)
        eval_options = EvalOptions(sampling=sampling, limit=limit, concurrency=4)
        with tempfile.TemporaryDirectory(prefix="deepfort-quantize-") as runs:
            for label, path in (("input", source), ("output", target)):
                err_console.print(f"evaluating the {label}", highlight=False)
                run_file = Path(runs) / f"{label}.jsonl"
                reports[label] = asyncio.run(_evaluate(path, plans, eval_options, run_file))
    inp, out = measured["input"], measured["output"]
    in_name = file_type_name(in_type) if in_type is not None else "unknown"
    result = {
        "object": "quantize.result",
        "type": chosen.name,
        "requantized": in_type is not None and in_type not in UNQUANTIZED,
        "threads": n_threads,
        "quantize_s": round(quantize_s, 2),
        "eval_text": {
            "source": str(eval_text) if eval_text is not None else "the built-in held-out text",
            "n_ctx": ctx_size,
            "windows": inp.ppl_windows,
            "scored_tokens": inp.ppl_tokens,
        },
        "input": {**inp.as_dict(), "file_type": in_name, "eval": reports["input"]},
        "output": {**out.as_dict(), "file_type": chosen.name.upper(), "eval": reports["output"]},
        "delta": {
            "size_ratio": out.size_bytes / inp.size_bytes,
            "perplexity": out.perplexity - inp.perplexity,
            "perplexity_ratio": out.perplexity / inp.perplexity,
            "scores": {
                name: score - _scores(reports["input"]).get(name, 0.0)
                for name, score in _scores(reports["output"]).items()
            },
        },
    }
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        _print_table(result, Console())

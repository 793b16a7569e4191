"""``deepfort bench``: measure any OpenAI-compatible server under load (like ``vllm bench serve``)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deepfort.bench.metrics import RequestResult, Summary
from deepfort.bench.prompts import BenchPrompt, load_dataset, sample
from deepfort.bench.report import RunInfo, render, to_json
from deepfort.bench.runner import LoadConfig, first_model, open_client, run_load
from deepfort.cli.common import err_console, fail


class EndpointChoice(StrEnum):
    chat = "chat"
    completions = "completions"


def _load_shape(
    concurrency: int | None, request_rate: float | None, max_concurrency: int | None
) -> tuple[float, int | None]:
    """(request rate, max concurrency) from the flags; ``--concurrency N`` is rate ``inf`` with at most N
    in flight, and with no flag at all one client sends the requests one after another."""
    if concurrency is not None:
        if request_rate is not None or max_concurrency is not None:
            fail(
                "--concurrency N is N clients; for arrivals at a rate use --request-rate [--max-concurrency]"
            )
        return math.inf, concurrency
    if request_rate is None:
        return math.inf, max_concurrency or 1
    if not request_rate > 0:
        fail("--request-rate must be above 0 (inf sends every request at once)")
    return request_rate, max_concurrency


def _progress(total: int) -> tuple[Progress, Callable[[RequestResult], None]]:
    progress = Progress(
        TextColumn("[bold]requests"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]}"),
        TimeElapsedColumn(),
        console=err_console,
    )
    task = progress.add_task("requests", total=total, failed=0)
    failed = 0

    def done(result: RequestResult) -> None:
        nonlocal failed
        failed += 0 if result.ok else 1
        progress.update(task, advance=1, failed=failed)

    return progress, done


async def _measure(
    url: str, api_key: str | None, timeout_s: float, cfg: LoadConfig, prompts: list[BenchPrompt], warmup: int
) -> tuple[str, Summary]:
    """Warm up, then run the measured requests; returns the model id used and the summary."""
    async with open_client(url, api_key, timeout_s) as client:
        if not cfg.model:
            cfg = replace(cfg, model=await first_model(client))
        if warmup:
            warm = replace(
                cfg, request_rate=math.inf, max_concurrency=min(warmup, cfg.max_concurrency or warmup)
            )
            with err_console.status(f"warming up with {warmup} request(s)"):
                await run_load(client, warm, prompts[:warmup])
        progress, done = _progress(len(prompts) - warmup)
        with progress:
            results, duration = await run_load(client, cfg, prompts[warmup:], done)
    return cfg.model, Summary.of(results, duration)


def bench(
    url: Annotated[
        str, typer.Option(help="Base URL of an OpenAI-compatible API.")
    ] = "http://127.0.0.1:8080/v1",
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model id; default: the first id of GET URL/models.")
    ] = None,
    endpoint: Annotated[
        EndpointChoice, typer.Option(help="chat: /chat/completions; completions: /completions.")
    ] = EndpointChoice.chat,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Fixed number of clients, each sending its next request at once."),
    ] = None,
    request_rate: Annotated[
        float | None, typer.Option(help="Poisson arrivals, requests/s; inf sends all at once.")
    ] = None,
    max_concurrency: Annotated[
        int | None, typer.Option(min=1, help="With --request-rate: most requests in flight.")
    ] = None,
    num_prompts: Annotated[int, typer.Option(min=1, help="Measured requests.")] = 50,
    dataset: Annotated[
        str,
        typer.Option(help="builtin, builtin:short|long|en|zh, or a JSONL file ({prompt} or {messages})."),
    ] = "builtin",
    max_tokens: Annotated[
        int | None, typer.Option(min=1, help="Per request; default: the prompt's own, else 128.")
    ] = None,
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature.")] = 0.0,
    seed: Annotated[
        int | None, typer.Option(help="Seeds prompt order and arrivals, and is sent as the sampling seed.")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="Sent as Authorization: Bearer KEY.")] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Requests sent first and not measured.")] = 1,
    ignore_eos: Annotated[
        bool, typer.Option("--ignore-eos", help="Ask for exactly max_tokens tokens (vLLM, llama-server).")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for a connection or event.")
    ] = 600.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON result to this file.")] = None,
) -> None:
    """Load-test an OpenAI-compatible server: TTFT, TPOT, ITL, latency and throughput (streaming)."""
    rate, limit = _load_shape(concurrency, request_rate, max_concurrency)
    prompts = sample(load_dataset(dataset), num_prompts + warmup, seed=seed or 0)
    cfg = LoadConfig(
        model=model or "",
        endpoint=endpoint.value,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        request_rate=rate,
        max_concurrency=limit,
        arrival_seed=seed or 0,
        ignore_eos=ignore_eos,
    )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    used_model, summary = asyncio.run(_measure(url, api_key, timeout, cfg, prompts, warmup))
    info = RunInfo(
        url=url,
        endpoint=endpoint.value,
        model=used_model,
        dataset=dataset,
        num_prompts=num_prompts,
        request_rate=rate,
        max_concurrency=limit,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        warmup=warmup,
        started_at=started,
    )
    result = to_json(info, summary)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        console = Console()
        if not console.is_terminal:
            console.width = max(console.width, 110)
        render(info, summary, console)
    if summary.completed == 0:
        first = summary.errors[0] if summary.errors else "no error recorded"
        fail(f"all {summary.failed} requests failed; first error: {first}")

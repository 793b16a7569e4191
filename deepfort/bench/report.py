"""How a benchmark result is shown: a rich table for people, one JSON object for scripts."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from deepfort.bench.metrics import Distribution, Summary

LATENCIES = (
    ("ttft", "Time to first token (TTFT)"),
    ("tpot", "Time per output token (TPOT, excl. 1st)"),
    ("itl", "Inter-token latency (ITL)"),
    ("e2el", "End-to-end latency (E2E)"),
)


@dataclass(frozen=True)
class RunInfo:
    """What was measured and how: echoed into the report so a result file explains itself."""

    url: str
    endpoint: str
    model: str
    dataset: str
    num_prompts: int
    request_rate: float
    max_concurrency: int | None
    max_tokens: int | None
    temperature: float
    seed: int | None
    warmup: int
    started_at: str


def to_json(info: RunInfo, summary: Summary) -> dict[str, object]:
    head: dict[str, object] = {
        "url": info.url,
        "endpoint": info.endpoint,
        "model": info.model,
        "dataset": info.dataset,
        "num_prompts": info.num_prompts,
        "request_rate": "inf" if math.isinf(info.request_rate) else info.request_rate,
        "max_concurrency": info.max_concurrency,
        "max_tokens": info.max_tokens,
        "temperature": info.temperature,
        "seed": info.seed,
        "warmup": info.warmup,
        "date": info.started_at,
    }
    return head | summary.to_json()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def render(info: RunInfo, summary: Summary, console: Console) -> None:
    rate = "inf" if math.isinf(info.request_rate) else f"{info.request_rate:g} req/s"
    clients = str(info.max_concurrency) if info.max_concurrency else "unlimited"
    console.print(
        f"[bold]deepfort bench[/] {info.url} [bold]{info.endpoint}[/] model={info.model} "
        f"dataset={info.dataset} request rate={rate} max concurrency={clients}",
        highlight=False,
    )
    totals = Table(title="Serving benchmark result", title_justify="left", show_header=False)
    totals.add_column("metric")
    totals.add_column("value", justify="right")
    for label, value in (
        ("Successful requests", f"{summary.completed}"),
        ("Failed requests", f"{summary.failed}"),
        ("Benchmark duration (s)", f"{summary.duration_s:.2f}"),
        ("Total input tokens", f"{summary.total_input_tokens}"),
        ("Total generated tokens", f"{summary.total_output_tokens}"),
        ("Request throughput (req/s)", f"{summary.request_throughput:.2f}"),
        ("Output token throughput (tok/s)", f"{summary.output_throughput:.2f}"),
        ("Total token throughput (tok/s)", f"{summary.total_token_throughput:.2f}"),
    ):
        totals.add_row(label, value)
    console.print(totals)
    latency = Table(title="Latency (ms)", title_justify="left")
    latency.add_column("metric")
    for stat in ("mean", "median (p50)", "p90", "p99"):
        latency.add_column(stat, justify="right")
    for name, label in LATENCIES:
        dist: Distribution = getattr(summary, name)
        latency.add_row(label, _ms(dist.mean), _ms(dist.median), _ms(dist.p90), _ms(dist.p99))
    console.print(latency)
    if summary.errors:
        console.print("[bold red]First errors:[/]")
        for error in summary.errors:
            console.print(f"  {error}", markup=False, highlight=False)

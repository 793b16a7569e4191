"""``deepfort logs``: read the JSON access log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from deepfort.cli.common import err_console, fail
from deepfort.observability.report import ANOMALY_RULE, Report, build_report, parse_since
from deepfort.observability.report_read import LineCounts, read_records, since_filter, total_bytes

app = typer.Typer(help="Read the JSON access log.", no_args_is_help=True)

HOURS_SHOWN = 72
"""Longer spans list only the anomalous hours on the terminal (``--json`` and ``--html`` have all)."""


def _read(paths: list[Path]) -> tuple[pd.DataFrame, LineCounts]:
    progress = Progress(
        TextColumn("[bold]reading"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    with progress:
        task = progress.add_task("reading", total=total_bytes(paths))
        return read_records(paths, advance=lambda n: progress.advance(task, n))


@app.command("report")
def report(
    logs: Annotated[list[Path], typer.Argument(help="Access-log files (JSON lines, plain or .gz).")],
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only requests from then on: 2026-11-01, 2026-11-01T08:00 or 24h, 7d."),
    ] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write an HTML page with charts here.")] = None,
    factor: Annotated[
        float,
        typer.Option("--anomaly-factor", min=0.0, help="Anomalous hours: volume above this times p95."),
    ] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Hourly volume, latency and errors, anomalous hours, top keys and models of an access log."""
    missing = [str(p) for p in logs if not p.is_file()]
    if missing:
        fail(f"no such file: {', '.join(missing)}")
    try:
        start = parse_since(since) if since is not None else None
    except ValueError as exc:
        fail(str(exc))
    frame, counts = _read(logs)
    frame = since_filter(frame, counts, start)
    result = build_report(frame, counts, files=[str(p) for p in logs], since=start, factor=factor)
    if html is not None:
        from deepfort.observability.report_html import render_html

        with err_console.status("drawing charts"):
            html.write_text(render_html(result), encoding="utf-8")
        err_console.print(f"wrote {escape(str(html))}", highlight=False)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    else:
        _print(Console(), result)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _print(console: Console, result: Report) -> None:
    data = result.as_dict()
    lines = data["lines"]
    summary = Table(title="Access log", show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    span = data["span"]
    summary.add_row("span (UTC)", f"{span['start']} to {span['end']} ({span['hours']} h)" if span else "-")
    if result.since is not None:
        summary.add_row("since", result.since.isoformat())
    summary.add_row("requests", str(result.requests))
    summary.add_row("errors (status >= 400)", f"{result.errors} ({_pct(result.error_rate)})")
    summary.add_row("latency p50 / p95", f"{_ms(result.latency_p50_ms)} / {_ms(result.latency_p95_ms)} ms")
    threshold = "-" if result.threshold is None else f"{result.threshold:.1f} requests/h"
    summary.add_row("p95 of hourly volume", threshold)
    summary.add_row("anomalous hours", ", ".join(result.anomalous_hours) or "none")
    summary.add_row(
        "lines",
        f"{lines['total']} read, {lines['access']} access records; skipped {lines['other']} other "
        f"records, {lines['invalid']} invalid, {lines['before_since']} before --since",
    )
    console.print(summary)
    console.print(f"[dim]anomalous: {escape(ANOMALY_RULE)}; factor {result.factor:g}[/]")
    hourly = data["hourly"]
    shown = hourly if len(hourly) <= HOURS_SHOWN else [h for h in hourly if h["anomalous"]]
    if shown:
        title = "Hours" if shown is hourly else f"Anomalous hours (of {len(hourly)}; --json has all)"
        table = Table(title=title)
        for name in ("hour (UTC)", "requests", "errors", "error rate", "p50 ms", "p95 ms"):
            table.add_column(name, justify="left" if name.startswith("hour") else "right")
        for h in shown:
            table.add_row(
                h["hour"],
                str(h["requests"]),
                str(h["errors"]),
                _pct(h["error_rate"]),
                _ms(h["latency_p50_ms"]),
                _ms(h["latency_p95_ms"]),
                style="bold red" if h["anomalous"] else None,
            )
        console.print(table)
    tops = (("Top keys", "key_id", result.top_keys), ("Top models", "model", result.top_models))
    for title, column, top in tops:
        for ranking, label in (("by_requests", "by requests"), ("by_tokens", "by tokens")):
            if not top[ranking]:
                continue
            table = Table(title=f"{title} {label}")
            for name in (column, "requests", "errors", "prompt tok", "completion tok", "total tok"):
                table.add_column(name, justify="left" if name == column else "right")
            for row in top[ranking]:
                table.add_row(
                    escape(str(row[column])) if row[column] is not None else "(none)",
                    *(str(row[k]) for k in ("requests", "errors", "prompt_tokens", "completion_tokens")),
                    str(row["total_tokens"]),
                )
            console.print(table)

"""The report as one self-contained HTML page: matplotlib charts (Agg, PNG as base64 data URIs) and tables.

Figures are built with :class:`matplotlib.figure.Figure` and its Agg canvas, never ``pyplot``: no global
figure state, no GUI backend, whatever ``MPLBACKEND`` says.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from html import escape
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from deepfort import __version__
from deepfort.observability.report import Report

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
tr.anomalous td { background: #fde2e2; }
img { max-width: 100%; border: 1px solid #eee; }
.note { color: #555; font-size: .9rem; }
"""


def _png(figure: Figure) -> str:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _axes(title: str, ylabel: str) -> tuple[Figure, Any]:
    figure = Figure(figsize=(10, 3.2), layout="constrained")
    ax = figure.add_subplot()
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    return figure, ax


def volume_chart(report: Report) -> str:
    hourly = report.hourly
    hours = hourly.index.tz_convert(None).to_numpy()
    figure, ax = _axes("Requests per hour (UTC)", "requests")
    width = 1 / 24 * 0.85
    anomalous = hourly["anomalous"].to_numpy(dtype=bool)
    volume = hourly["requests"].to_numpy()
    ax.bar(hours[~anomalous], volume[~anomalous], width=width, color="#4c78a8", label="requests")
    if anomalous.any():
        ax.bar(hours[anomalous], volume[anomalous], width=width, color="#e45756", label="anomalous")
    if report.threshold is not None:
        ax.axhline(report.threshold, color="#f58518", linestyle="--", label=f"p95 = {report.threshold:.1f}")
        if report.factor != 1:
            line = report.factor * report.threshold
            ax.axhline(line, color="#e45756", linestyle=":", label=f"{report.factor:g} x p95 = {line:.1f}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(figure)


def latency_chart(report: Report) -> str:
    hours = report.hourly.index.tz_convert(None).to_numpy()
    figure, ax = _axes("Latency per hour (UTC)", "ms")
    ax.plot(hours, report.hourly["latency_p50_ms"].to_numpy(dtype=float), marker=".", label="p50")
    ax.plot(hours, report.hourly["latency_p95_ms"].to_numpy(dtype=float), marker=".", label="p95")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(figure)


def error_chart(report: Report) -> str:
    hours = report.hourly.index.tz_convert(None).to_numpy()
    figure, ax = _axes("Error rate per hour (status >= 400, UTC)", "% of requests")
    ax.plot(hours, report.hourly["error_rate"].to_numpy(dtype=float) * 100, marker=".", color="#e45756")
    ax.set_ylim(bottom=0)
    return _png(figure)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th{' class=l' if i == 0 else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    body = []
    for n, row in enumerate(rows):
        cls = f' class="{classes[n]}"' if n < len(classes) and classes[n] else ""
        cells = "".join(
            f"<td{' class=l' if i == 0 else ''}>{escape(_cell(v))}</td>" for i, v in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"


def _top_tables(title: str, column: str, top: dict[str, list[dict[str, Any]]]) -> str:
    headers = [column, "requests", "errors", "prompt tokens", "completion tokens", "total tokens"]
    out = []
    for ranking, label in (("by_requests", "by requests"), ("by_tokens", "by tokens")):
        rows = [
            [
                r[column] if r[column] is not None else "(none)",
                r["requests"],
                r["errors"],
                r["prompt_tokens"],
                r["completion_tokens"],
                r["total_tokens"],
            ]
            for r in top[ranking]
        ]
        out.append(f"<h3>{escape(title)} {label}</h3>{_table(headers, rows)}")
    return "".join(out)


def render_html(report: Report) -> str:
    data = report.as_dict()
    lines = data["lines"]
    summary = [
        ["files", ", ".join(report.files)],
        ["span (UTC)", f"{data['span']['start']} to {data['span']['end']}" if data["span"] else "-"],
        ["since", data["since"] or "-"],
        ["requests", report.requests],
        ["errors (status >= 400)", f"{report.errors} ({_pct(report.error_rate)})"],
        ["latency p50 / p95 (ms)", f"{_cell(report.latency_p50_ms)} / {_cell(report.latency_p95_ms)}"],
        ["p95 of hourly volume", _cell(report.threshold)],
        ["anomalous hours", ", ".join(report.anomalous_hours) or "none"],
        [
            "lines",
            f"{lines['total']} read: {lines['access']} access records, {lines['other']} other log records "
            f"and {lines['invalid']} invalid lines skipped, {lines['before_since']} before --since",
        ],
    ]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<title>deepfort access-log report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>deepfort access-log report</h1>",
        _table(["", "value"], summary),
        f"<p class=note>Anomalous hours: {escape(data['anomaly']['rule'])}; factor {report.factor:g}.</p>",
    ]
    if not report.hourly.empty:
        parts += [
            "<h2>Volume</h2>",
            f'<img src="{volume_chart(report)}" alt="requests per hour">',
            "<h2>Latency</h2>",
            f'<img src="{latency_chart(report)}" alt="latency per hour">',
            "<h2>Errors</h2>",
            f'<img src="{error_chart(report)}" alt="error rate per hour">',
        ]
    hourly = report.hourly_rows()
    parts += [
        "<h2>Hours</h2>",
        _table(
            ["hour (UTC)", "requests", "errors", "error rate", "p50 ms", "p95 ms"],
            [
                [
                    h["hour"],
                    h["requests"],
                    h["errors"],
                    _pct(h["error_rate"]),
                    h["latency_p50_ms"],
                    h["latency_p95_ms"],
                ]
                for h in hourly
            ],
            ["anomalous" if h["anomalous"] else "" for h in hourly],
        ),
        "<h2>Keys</h2>",
        _top_tables("Top keys", "key_id", report.top_keys),
        "<h2>Models</h2>",
        _top_tables("Top models", "model", report.top_models),
        f"<p class=note>deepfort {escape(__version__)}</p></body></html>",
    ]
    return "\n".join(parts)

"""The access-log report: hourly volume, latency and errors, anomalous hours, top keys and models.

Hours are UTC clock hours (``ts`` floored to the hour). The span runs from the hour of the first record to
the hour of the last one, and every hour in it is a row, hours without requests included (volume 0,
latency and error rate null).

Anomalous hours (:data:`ANOMALY_RULE`): the threshold is the 95th percentile of hourly volume, computed
as pandas ``Series.quantile(0.95)`` (linear interpolation, numpy's default) over **every hour of the span,
zero-volume hours included**; an hour is anomalous when its volume is strictly above ``factor`` times that
threshold (``factor`` is 1 by default). By construction about 5 % of hours lie above the 95th percentile
when hourly volumes are all different; a factor above 1 (e.g. 1.5) keeps only spikes well beyond it.

Latency percentiles per hour are the same linear quantiles over that hour's requests (``latency_ms``, or
``duration_ms`` in the server's stderr log). Errors are responses with ``status >= 400``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from deepfort.observability.report_read import LineCounts

VOLUME_QUANTILE = 0.95
TOP_N = 10
ANOMALY_RULE = (
    "volume > factor x p95, where p95 = pandas Series.quantile(0.95, interpolation='linear') of hourly "
    "request counts over every UTC hour of the span, zero-request hours included"
)

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``24h``/``90m``/``7d``/``2w`` before ``now``, or an ISO 8601 date or time (UTC when it names no
    zone). :class:`ValueError` otherwise."""
    match = _RELATIVE.match(text)
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected a date or time (2026-11-01, 2026-11-01T08:00) or an age "
            "(90m, 24h, 7d, 2w)"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _num(value: Any) -> float | None:
    """A JSON-safe float: NaN (no data) becomes None."""
    number = float(value)
    return None if math.isnan(number) else number


def _iso(value: Any) -> str:
    return str(pd.Timestamp(value).isoformat())


@dataclass
class Report:
    """What ``deepfort logs report`` prints; :meth:`as_dict` is the ``--json`` shape."""

    files: list[str]
    since: datetime | None
    lines: LineCounts
    factor: float
    hourly: pd.DataFrame
    """Indexed by hour: requests, errors, error_rate, latency_p50_ms, latency_p95_ms, anomalous."""
    threshold: float | None
    """The 95th percentile of hourly volume; None without requests."""
    requests: int
    errors: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    top_keys: dict[str, list[dict[str, Any]]]
    top_models: dict[str, list[dict[str, Any]]]

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def anomalous_hours(self) -> list[str]:
        if self.hourly.empty:
            return []
        return [_iso(h) for h in self.hourly.index[self.hourly["anomalous"]]]

    def hourly_rows(self) -> list[dict[str, Any]]:
        rows = []
        for hour, row in self.hourly.iterrows():
            rows.append(
                {
                    "hour": _iso(hour),
                    "requests": int(row["requests"]),
                    "errors": int(row["errors"]),
                    "error_rate": _num(row["error_rate"]),
                    "latency_p50_ms": _num(row["latency_p50_ms"]),
                    "latency_p95_ms": _num(row["latency_p95_ms"]),
                    "anomalous": bool(row["anomalous"]),
                }
            )
        return rows

    def as_dict(self) -> dict[str, Any]:
        span = None
        if not self.hourly.empty:
            span = {
                "start": _iso(self.hourly.index[0]),
                "end": _iso(self.hourly.index[-1] + pd.Timedelta(hours=1)),
                "hours": len(self.hourly),
            }
        return {
            "files": self.files,
            "since": self.since.isoformat() if self.since is not None else None,
            "lines": self.lines.as_dict(),
            "span": span,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": _num(self.error_rate) if self.error_rate is not None else None,
            "latency_ms": {"p50": self.latency_p50_ms, "p95": self.latency_p95_ms},
            "anomaly": {
                "rule": ANOMALY_RULE,
                "quantile": VOLUME_QUANTILE,
                "factor": self.factor,
                "p95_requests_per_hour": _num(self.threshold) if self.threshold is not None else None,
                "hours": self.anomalous_hours,
            },
            "hourly": self.hourly_rows(),
            "top_keys": self.top_keys,
            "top_models": self.top_models,
        }


def hourly_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per UTC hour from the first record's hour to the last's, empty hours included."""
    hours = frame["ts"].dt.floor("h")
    grouped = frame.assign(hour=hours, error=frame["status"] >= 400).groupby("hour")
    stats = pd.DataFrame(
        {
            "requests": grouped.size(),
            "errors": grouped["error"].sum(),
            "latency_p50_ms": grouped["latency_ms"].quantile(0.5),
            "latency_p95_ms": grouped["latency_ms"].quantile(0.95),
        }
    )
    span = pd.date_range(hours.min(), hours.max(), freq="h")
    stats = stats.reindex(span)
    stats["requests"] = stats["requests"].fillna(0).astype("int64")
    stats["errors"] = stats["errors"].fillna(0).astype("int64")
    busy = stats["requests"] > 0
    stats["error_rate"] = (stats["errors"] / stats["requests"]).where(busy)
    return stats


def _top(frame: pd.DataFrame, column: str) -> dict[str, list[dict[str, Any]]]:
    """Requests and tokens per value of ``column`` (null counts as its own value), ranked two ways."""
    tokens = frame[["prompt_tokens", "completion_tokens"]].fillna(0)
    data = pd.DataFrame(
        {
            "name": frame[column].astype("object").where(frame[column].notna(), None),
            "prompt_tokens": tokens["prompt_tokens"],
            "completion_tokens": tokens["completion_tokens"],
            "error": frame["status"] >= 400,
        }
    )
    grouped = data.groupby("name", dropna=False)
    table = pd.DataFrame(
        {
            "requests": grouped.size(),
            "errors": grouped["error"].sum(),
            "prompt_tokens": grouped["prompt_tokens"].sum(),
            "completion_tokens": grouped["completion_tokens"].sum(),
        }
    )
    table["total_tokens"] = table["prompt_tokens"] + table["completion_tokens"]

    def rows(by: str) -> list[dict[str, Any]]:
        # Ties broken by name so that the output is stable.
        ranked = table.assign(_key=[str(n) for n in table.index]).sort_values(
            [by, "_key"], ascending=[False, True], kind="stable"
        )
        out = []
        for name, row in ranked.head(TOP_N).iterrows():
            out.append(
                {
                    column: None if name is None or (isinstance(name, float) and math.isnan(name)) else name,
                    "requests": int(row["requests"]),
                    "errors": int(row["errors"]),
                    "prompt_tokens": int(row["prompt_tokens"]),
                    "completion_tokens": int(row["completion_tokens"]),
                    "total_tokens": int(row["total_tokens"]),
                }
            )
        return out

    return {"by_requests": rows("requests"), "by_tokens": rows("total_tokens")}


def build_report(
    frame: pd.DataFrame,
    lines: LineCounts,
    *,
    files: list[str],
    since: datetime | None = None,
    factor: float = 1.0,
) -> Report:
    """The report over ``frame`` (records from :func:`report_read.read_records`, already filtered)."""
    if frame.empty:
        empty = pd.DataFrame(
            columns=["requests", "errors", "error_rate", "latency_p50_ms", "latency_p95_ms", "anomalous"]
        )
        return Report(files, since, lines, factor, empty, None, 0, 0, None, None, _no_top(), _no_top())
    hourly = hourly_stats(frame)
    threshold = float(hourly["requests"].quantile(VOLUME_QUANTILE))
    hourly["anomalous"] = hourly["requests"] > factor * threshold
    latency = frame["latency_ms"]
    return Report(
        files=files,
        since=since,
        lines=lines,
        factor=factor,
        hourly=hourly,
        threshold=threshold,
        requests=len(frame),
        errors=int((frame["status"] >= 400).sum()),
        latency_p50_ms=_num(latency.quantile(0.5)),
        latency_p95_ms=_num(latency.quantile(0.95)),
        top_keys=_top(frame, "key_id"),
        top_models=_top(frame, "model"),
    )


def _no_top() -> dict[str, list[dict[str, Any]]]:
    return {"by_requests": [], "by_tokens": []}

"""``deepfort logs report`` on generated access logs whose volumes, latencies and statuses are known."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import json
import logging
import random
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from typer.testing import CliRunner

from deepfort.api.middleware import RequestIdMiddleware
from deepfort.cli.main import app
from deepfort.observability.logs import JsonFormatter
from deepfort.observability.report import parse_since
from tests.observability.logdata import GeneratedLog, as_lines, generate, write_lines

SPIKE = 30


def spiky_volumes(seed: int = 3) -> list[int]:
    """48 hours of 17 to 22 requests and, at hour :data:`SPIKE`, 200."""
    rng = random.Random(seed)
    volumes = [rng.randint(17, 22) for _ in range(48)]
    volumes.insert(SPIKE, 200)
    return volumes


def run(*args: str) -> Any:
    result = CliRunner().invoke(app, ["logs", "report", *args])
    assert result.exit_code == 0, result.output
    return result


def report_json(*args: str | Path) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(run(*map(str, args), "--json").stdout)
    return out


@pytest.fixture
def spiky(tmp_path: Path) -> tuple[GeneratedLog, Path]:
    log = generate(spiky_volumes())
    return log, write_lines(tmp_path / "access.log", as_lines(log.records))


def test_finds_the_spike_and_matches_numpy(spiky: tuple[GeneratedLog, Path]) -> None:
    log, path = spiky
    out = report_json(path)
    volumes = log.volumes()
    p95 = np.percentile(volumes, 95)
    # The generated data is what the test claims: only the spike is above the 95th percentile.
    assert [h.iso for h, v in zip(log.hours, volumes, strict=True) if v > p95] == [log.hours[SPIKE].iso]

    assert out["anomaly"]["hours"] == [log.hours[SPIKE].iso]
    assert out["anomaly"]["p95_requests_per_hour"] == pytest.approx(p95)
    assert out["span"] == {
        "start": log.hours[0].iso,
        "end": datetime(2026, 11, 3, 1, tzinfo=UTC).isoformat(),
        "hours": len(volumes),
    }
    assert out["requests"] == sum(volumes)
    assert [row["hour"] for row in out["hourly"]] == [h.iso for h in log.hours]
    for row, hour in zip(out["hourly"], log.hours, strict=True):
        errors = sum(s >= 400 for s in hour.statuses)
        assert row["requests"] == len(hour.latencies)
        assert row["errors"] == errors
        assert row["error_rate"] == pytest.approx(errors / len(hour.statuses))
        assert row["latency_p50_ms"] == pytest.approx(np.percentile(hour.latencies, 50), rel=1e-12)
        assert row["latency_p95_ms"] == pytest.approx(np.percentile(hour.latencies, 95), rel=1e-12)
        assert row["anomalous"] is (hour is log.hours[SPIKE])
    statuses = [s for h in log.hours for s in h.statuses]
    all_errors = sum(s >= 400 for s in statuses)
    assert 0 < all_errors < len(statuses)
    assert out["errors"] == all_errors
    assert out["error_rate"] == pytest.approx(all_errors / len(statuses))
    latencies = [x for h in log.hours for x in h.latencies]
    assert out["latency_ms"]["p95"] == pytest.approx(np.percentile(latencies, 95), rel=1e-12)


def test_top_keys_and_models(spiky: tuple[GeneratedLog, Path]) -> None:
    log, path = spiky
    out = report_json(path)
    requests = Counter(r["key_id"] for r in log.records)
    tokens: Counter[object] = Counter()
    for r in log.records:
        tokens[r["model"]] += int(str(r["prompt_tokens"])) + int(str(r["completion_tokens"]))
    by_requests = out["top_keys"]["by_requests"]
    assert {row["key_id"]: row["requests"] for row in by_requests} == dict(requests)
    assert [row["requests"] for row in by_requests] == sorted(requests.values(), reverse=True)
    assert None in {row["key_id"] for row in by_requests}  # requests without a key are a row of their own
    by_tokens = out["top_models"]["by_tokens"]
    assert [(row["model"], row["total_tokens"]) for row in by_tokens] == tokens.most_common()


def test_every_hour_above_p95_is_anomalous_unless_a_factor_asks_for_more(tmp_path: Path) -> None:
    """With all-different volumes about 5 % of hours lie above the 95th percentile: the rule flags them
    all; ``--anomaly-factor 1.5`` keeps only the spike."""
    volumes = list(range(10, 58))
    volumes.insert(SPIKE, 400)
    log = generate(volumes)
    path = write_lines(tmp_path / "access.log", as_lines(log.records))
    p95 = np.percentile(volumes, 95)
    expected = [h.iso for h, v in zip(log.hours, volumes, strict=True) if v > p95]
    assert len(expected) == 3
    assert report_json(path)["anomaly"]["hours"] == expected
    strict = report_json(path, "--anomaly-factor", "1.5")
    assert strict["anomaly"]["hours"] == [log.hours[SPIKE].iso]
    assert strict["anomaly"]["factor"] == 1.5


def test_hours_without_requests_are_rows_and_count_in_the_percentile(tmp_path: Path) -> None:
    volumes = [30] * 6 + [0] * 30 + [30] * 6 + [90]
    log = generate(volumes)
    out = report_json(write_lines(tmp_path / "access.log", as_lines(log.records)))
    assert [row["requests"] for row in out["hourly"]] == volumes
    idle = out["hourly"][10]
    assert (idle["error_rate"], idle["latency_p50_ms"], idle["latency_p95_ms"]) == (None, None, None)
    assert out["anomaly"]["p95_requests_per_hour"] == pytest.approx(np.percentile(volumes, 95))
    assert out["anomaly"]["hours"] == [log.hours[-1].iso]


def test_garbage_and_other_records_are_counted_and_skipped(tmp_path: Path) -> None:
    log = generate([5, 5])
    other = {"ts": "2026-11-01T00:00:00+00:00", "logger": "uvicorn.error", "msg": "started", "status": 1}
    junk = [
        "not json at all",
        "",
        "[1, 2, 3]",
        '{"ts": "2026-11-01T00:',
        json.dumps(other),
        json.dumps({"logger": "deepfort.access", "msg": "request", "ts": "yesterday", "status": 200}),
        json.dumps({"logger": "deepfort.access", "msg": "request", "ts": "2026-11-01T00:00:00Z"}),
    ]
    lines = as_lines(log.records)
    path = tmp_path / "access.log"
    path.write_bytes("\n".join(junk[:3] + lines + junk[3:]).encode() + b"\n\xff\xfe\x00binary\n")
    out = report_json(path)
    assert out["lines"] == {
        "total": len(lines) + len(junk) + 1,
        "access": 10,
        "other": 1,
        "invalid": len(junk) - 1 + 1,
        "before_since": 0,
    }
    assert out["requests"] == 10


def test_since_filters(spiky: tuple[GeneratedLog, Path]) -> None:
    log, path = spiky
    out = report_json(path, "--since", "2026-11-02")
    later = [h for h in log.hours if h.start >= datetime(2026, 11, 2, tzinfo=UTC)]
    assert out["requests"] == sum(len(h.latencies) for h in later)
    assert out["lines"]["before_since"] == len(log.records) - out["requests"]
    assert out["span"]["start"] == later[0].iso
    assert out["since"] == "2026-11-02T00:00:00+00:00"
    assert out["anomaly"]["hours"] == [log.hours[SPIKE].iso]


def test_since_accepts_ages_and_times() -> None:
    now = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
    assert parse_since("24h", now) == datetime(2026, 11, 28, 22, 0, tzinfo=UTC)
    assert parse_since("90m", now) == datetime(2026, 11, 29, 20, 30, tzinfo=UTC)
    assert parse_since("7d", now) == datetime(2026, 11, 22, 22, 0, tzinfo=UTC)
    assert parse_since("2026-11-01T08:00") == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    assert parse_since("2026-11-01T08:00+08:00") == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="expected a date"):
        parse_since("last tuesday")


def test_bad_since_and_missing_file_fail(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "access.log", [])
    bad = CliRunner().invoke(app, ["logs", "report", str(path), "--since", "soon"])
    assert bad.exit_code == 1
    assert "--since 'soon'" in bad.stderr
    missing = CliRunner().invoke(app, ["logs", "report", str(tmp_path / "nope.log")])
    assert missing.exit_code == 1
    assert "no such file" in missing.stderr


def test_gzip_files_are_read(spiky: tuple[GeneratedLog, Path], tmp_path: Path) -> None:
    log, path = spiky
    half = len(log.records) // 2
    packed = tmp_path / "access.log.1.gz"
    packed.write_bytes(gzip.compress(("\n".join(as_lines(log.records[:half])) + "\n").encode()))
    plain = write_lines(tmp_path / "access.log.0", as_lines(log.records[half:]))
    both = report_json(packed, plain)
    whole = report_json(path)
    assert both["hourly"] == whole["hourly"]
    assert both["anomaly"]["hours"] == [log.hours[SPIKE].iso]


def test_html_page_embeds_charts_and_tables(spiky: tuple[GeneratedLog, Path], tmp_path: Path) -> None:
    log, path = spiky
    page = tmp_path / "report.html"
    run(str(path), "--html", str(page))
    html = page.read_text()
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3  # volume, latency, errors
    for image in images:
        assert base64.b64decode(image).startswith(b"\x89PNG\r\n\x1a\n")
    assert '<tr class="anomalous"><td class=l>' + log.hours[SPIKE].iso in html
    assert "key-aaaa" in html and "smollm2-135m" in html
    assert not re.search(r"(src|href)=\"?(https?:)?//", html)  # self-contained: nothing fetched


def test_terminal_summary(spiky: tuple[GeneratedLog, Path]) -> None:
    log, path = spiky
    text = run(str(path)).stdout
    assert "anomalous hours" in text
    assert log.hours[SPIKE].iso in text
    assert "Top models by tokens" in text


def test_a_log_without_requests(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "access.log", ["garbage", json.dumps({"logger": "x", "msg": "y"})])
    out = report_json(path)
    assert (out["requests"], out["span"], out["anomaly"]["hours"], out["hourly"]) == (0, None, [], [])
    page = tmp_path / "empty.html"
    run(str(path), "--html", str(page))
    assert "data:image/png" not in page.read_text()


def _server_log_lines() -> list[str]:
    """What the server's stderr log holds today: the real middleware's records, formatted for real."""

    async def ok(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def broken(_request: Request) -> Response:
        return JSONResponse({"error": "nope"}, status_code=503)

    asgi = RequestIdMiddleware(Starlette(routes=[Route("/ok", ok), Route("/broken", broken)]))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("deepfort.access")
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)

    async def send() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://t") as client:
            for path in ("/ok", "/ok", "/ok", "/broken"):
                await client.get(path)

    try:
        asyncio.run(send())
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    return stream.getvalue().splitlines()


def test_the_servers_own_log_lines(tmp_path: Path) -> None:
    lines = _server_log_lines()
    records = [json.loads(line) for line in lines]
    out = report_json(write_lines(tmp_path / "stderr.log", [*lines, '{"logger": "uvicorn", "msg": "x"}']))
    assert (out["requests"], out["errors"], out["lines"]["other"]) == (4, 1, 1)
    latencies = [r.get("latency_ms", r["duration_ms"]) for r in records]
    assert out["latency_ms"]["p50"] == pytest.approx(np.percentile(latencies, 50))


LEGACY_FIELDS = ("ts", "level", "logger", "msg", "request_id", "method", "path", "status", "duration_ms")


def test_the_legacy_stderr_shape(tmp_path: Path) -> None:
    """Before the access log, the stderr log had ``duration_ms`` and no key, model or tokens."""
    records = [{k: r[k] for k in LEGACY_FIELDS} for r in map(json.loads, _server_log_lines())]
    out = report_json(write_lines(tmp_path / "stderr.log", [json.dumps(r) for r in records]))
    assert (out["requests"], out["errors"]) == (4, 1)
    assert out["latency_ms"]["p95"] == pytest.approx(np.percentile([r["duration_ms"] for r in records], 95))
    assert out["top_keys"]["by_requests"] == [
        {
            "key_id": None,
            "requests": 4,
            "errors": 1,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 0,
        }
    ]
    assert out["top_models"]["by_requests"][0]["model"] is None

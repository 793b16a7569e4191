"""The statistics of ``deepfort bench``: percentiles, TPOT, throughput and the empty cases."""

from __future__ import annotations

import math

import pytest

from deepfort.bench.metrics import MAX_ERRORS, Distribution, RequestResult, Summary, percentile


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        # numpy.percentile's default (linear interpolation between closest ranks)
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([1.0, 2.0, 3.0, 4.0], 90, 3.7),
        ([1.0, 2.0, 3.0, 4.0], 99, 3.97),
        ([4.0, 1.0, 3.0, 2.0], 0, 1.0),
        ([4.0, 1.0, 3.0, 2.0], 100, 4.0),
        ([7.0], 99, 7.0),
        ([10.0, 20.0, 30.0], 50, 20.0),
    ],
)
def test_percentile(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 50) is None
    assert Distribution.of_seconds([]) == Distribution(None, None, None, None)


def test_distribution_is_in_milliseconds() -> None:
    dist = Distribution.of_seconds([0.1, 0.2, 0.3])
    assert dist.mean == pytest.approx(200.0)
    assert dist.median == pytest.approx(200.0)
    assert dist.p99 == pytest.approx(298.0)


def _ok(ttft: float, latency: float, tokens: int, itl: list[float] | None = None) -> RequestResult:
    return RequestResult(
        ok=True, ttft=ttft, latency=latency, output_tokens=tokens, itl=itl or [], input_tokens=10
    )


def test_tpot_excludes_the_first_token() -> None:
    assert _ok(0.5, 2.5, 5).tpot == pytest.approx(0.5)  # (2.5 - 0.5) / (5 - 1)
    assert _ok(0.5, 0.5, 1).tpot is None  # one output token: no time per *further* token
    assert RequestResult(ok=False, ttft=0.1, latency=1.0, output_tokens=5).tpot is None


def test_summary_of_mixed_results() -> None:
    results = [
        _ok(0.1, 1.1, 11, itl=[0.1] * 10),
        _ok(0.3, 0.3, 1),
        RequestResult(error="HTTP 503: queue full", latency=0.01),
        RequestResult(error="HTTP 503: queue full", latency=0.01),
    ]
    summary = Summary.of(results, duration_s=2.0)
    assert (summary.completed, summary.failed) == (2, 2)
    assert summary.errors == ["HTTP 503: queue full"]
    assert summary.total_output_tokens == 12
    assert summary.total_input_tokens == 20
    assert summary.output_throughput == pytest.approx(6.0)
    assert summary.request_throughput == pytest.approx(1.0)
    assert summary.total_token_throughput == pytest.approx(16.0)
    assert summary.ttft.mean == pytest.approx(200.0)  # failures carry no latency into the stats
    assert summary.e2el.median == pytest.approx(700.0)
    assert summary.tpot.mean == pytest.approx(100.0)  # only the 11-token request has a TPOT
    assert summary.itl.p99 == pytest.approx(100.0)


def test_summary_of_nothing() -> None:
    summary = Summary.of([], duration_s=0.0)
    assert (summary.completed, summary.failed, summary.output_throughput) == (0, 0, 0.0)
    data = summary.to_json()
    assert data["mean_ttft_ms"] is None and data["p99_e2el_ms"] is None
    assert math.isfinite(float(str(data["request_throughput"])))


def test_errors_are_distinct_and_few() -> None:
    results = [RequestResult(error=f"error {i % 7}") for i in range(20)]
    assert Summary.of(results, 1.0).errors == [f"error {i}" for i in range(MAX_ERRORS)]


def test_json_keys() -> None:
    data = Summary.of([_ok(0.1, 1.1, 11, itl=[0.1] * 10)], 1.0).to_json()
    for metric in ("ttft", "tpot", "itl", "e2el"):
        for stat in ("mean", "median", "p90", "p99"):
            assert isinstance(data[f"{stat}_{metric}_ms"], float), (stat, metric)

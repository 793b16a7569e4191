"""The PromQL subset: what parses, what is refused by name, and evaluation corners promtool cannot show."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from deepfort.observability.promql import (
    Aggregate,
    Binary,
    Call,
    Matcher,
    MatrixSelector,
    Number,
    PromQLError,
    VectorSelector,
    parse,
    parse_duration,
    ranges,
)
from deepfort.observability.query import Sample, evaluate
from deepfort.observability.tsdb import LOOKBACK_S, SeriesStore, labels_of


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("1h30m", 5400), ("0s", 0), ("250ms", 0.25), ("2d", 172800), ("1w", 604800)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m5", "5 m", "1.5m", "5M"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(PromQLError, match="not a duration"):
        parse_duration(text)


def test_parse_tree() -> None:
    expr = parse('sum by (model, le) (rate(x_bucket{code=~"5..", a!="b"}[5m])) / 2 > 0.5')
    assert expr == Binary(
        ">",
        Binary(
            "/",
            Aggregate(
                "sum",
                Call(
                    "rate",
                    (
                        MatrixSelector(
                            VectorSelector(
                                "x_bucket", (Matcher("code", "=~", "5.."), Matcher("a", "!=", "b"))
                            ),
                            300.0,
                        ),
                    ),
                ),
                ("model", "le"),
                without=False,
            ),
            Number(2.0),
        ),
        Number(0.5),
    )


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ("a or b and c", "a or (b and c)"),
        ("a + b * c", "a + (b * c)"),
        ("a - b - c", "(a - b) - c"),
        ("2 ^ 3 ^ 2", "2 ^ (3 ^ 2)"),
        ("-a ^ 2", "-(a ^ 2)"),
        ("a > b + 1", "a > (b + 1)"),
        ("sum(a) by (x)", "sum by (x) (a)"),
        ("x{}", "x"),
        ('{__name__="x"}', '{__name__="x"}'),
        ("deepfort:center_up == 0", "(deepfort:center_up) == (0)"),
    ],
)
def test_precedence(text: str, same_as: str) -> None:
    assert parse(text) == parse(same_as)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("x offset 5m", "'offset'"),
        ("x @ 100", "'@'"),
        ("rate(x[5m:1m])", "subqueries"),
        ("a > bool 1", "'bool'"),
        ("a / on(job) b", "'on'"),
        ("a / ignoring(job) b", "'ignoring'"),
        ("topk(3, x)", "function 'topk'"),
        ("quantile(0.9, x)", "function 'quantile'"),
        ("irate(x[5m])", "function 'irate'"),
        ("label_replace(x, 'a', 'b', 'c', 'd')", "function 'label_replace'"),
        ('vector("1")', "string arguments"),
        ("x 5m", "unexpected '5m'"),
        ("rate(x)", "rate takes one range selector"),
        ("x[5m]", "only allowed as the argument"),
        ("histogram_quantile(x, y)", "histogram_quantile takes a number"),
        ("vector(x)", "vector takes one number"),
        ("sum(a, b)", "sum takes one argument"),
        ("sum by (a) (x) by (b)", "grouping given twice"),
        ("x{a=b}", "quoted label value"),
        ("x{a~'b'}", "unexpected character"),
        ("(a + b", "expected ')'"),
        ("a b", "unexpected 'b'"),
    ],
)
def test_unsupported_or_bad_expressions_are_named(text: str, named: str) -> None:
    with pytest.raises(PromQLError, match=named.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_ranges() -> None:
    assert sorted(ranges(parse("rate(a[5m]) / avg_over_time(b[1h]) > 1"))) == [300.0, 3600.0]
    assert ranges(parse("a > 1")) == []


def store_with(*series: tuple[dict[str, str], Sequence[tuple[float, float | None]]]) -> SeriesStore:
    store = SeriesStore()
    for labels, points in series:
        for t, v in points:
            store.add(labels_of(labels), t, v)
    return store


def run(text: str, store: SeriesStore, t: float) -> list[Sample] | float:
    return evaluate(parse(text), store, t)


def one(value: list[Sample] | float) -> float:
    assert isinstance(value, list) and len(value) == 1
    return value[0].value


def test_instant_selector_lookback_and_staleness() -> None:
    store = store_with(({"__name__": "x"}, [(0, 1.0), (60, None), (120, 2.0)]))
    assert one(run("x", store, 0)) == 1.0
    assert run("x", store, 30) != []  # the point at 0 is still the latest
    assert run("x", store, 60) == []  # stale marker: gone at once, not after the lookback
    assert one(run("x", store, 120 + LOOKBACK_S)) == 2.0  # the lookback includes its start
    assert run("x", store, 120 + LOOKBACK_S + 1) == []


def test_histogram_quantile_corners() -> None:
    def quantile(q: float, buckets: dict[str, float]) -> float:
        store = store_with(*[({"__name__": "h_bucket", "le": le}, [(0.0, n)]) for le, n in buckets.items()])
        return one(run(f"histogram_quantile({q}, h_bucket)", store, 0))

    assert math.isnan(quantile(0.5, {"1": 0, "+Inf": 0}))  # no observations
    assert math.isnan(quantile(0.5, {"1": 3, "2": 4}))  # no +Inf bucket
    assert quantile(0.5, {"1": 4, "2": 2, "+Inf": 4}) == 0.5  # a falling count is lifted to the running max
    assert quantile(2, {"1": 1, "+Inf": 1}) == math.inf
    assert quantile(-1, {"1": 1, "+Inf": 1}) == -math.inf
    assert quantile(0.25, {"1": 1, "1.0": 1, "+Inf": 4}) == 0.5  # `le` 1 and 1.0 are one bucket


def test_vector_matching_errors() -> None:
    store = store_with(
        ({"__name__": "a", "job": "x"}, [(0, 1.0)]),
        ({"__name__": "b", "job": "x"}, [(0, 1.0)]),
        ({"__name__": "c", "job": "x"}, [(0, 1.0)]),
    )
    with pytest.raises(PromQLError, match="many-to-many"):
        run('c / {job="x"}', store, 0)
    with pytest.raises(PromQLError, match="many-to-one"):
        run('{job="x"} / c', store, 0)
    with pytest.raises(PromQLError, match="needs `bool`"):
        run("1 > 0", store, 0)
    with pytest.raises(PromQLError, match="instant vector"):
        run("1 and c", store, 0)


def test_arithmetic_corners() -> None:
    store = store_with(({"__name__": "x"}, [(0, 0.0)]), ({"__name__": "y"}, [(0, -2.0)]))
    assert math.isnan(one(run("x / x", store, 0)))
    assert one(run("y / x", store, 0)) == -math.inf
    assert math.isnan(one(run("y % x", store, 0)))
    assert math.isnan(one(run("y ^ 0.5", store, 0)))
    assert run("2 * 3 - 1", store, 0) == 5.0
    assert one(run("-y", store, 0)) == 2.0


def test_aggregations_skip_nan_for_min_and_max() -> None:
    store = store_with(
        ({"__name__": "x", "i": "1"}, [(0, math.nan)]),
        ({"__name__": "x", "i": "2"}, [(0, 3.0)]),
        ({"__name__": "x", "i": "3"}, [(0, 1.0)]),
    )
    assert one(run("max(x)", store, 0)) == 3.0
    assert one(run("min(x)", store, 0)) == 1.0
    assert math.isnan(one(run("sum(x)", store, 0)))
    assert one(run("count(x)", store, 0)) == 3.0

"""Evaluate a parsed :mod:`promql` expression at one instant over a :class:`SeriesStore`.

The semantics follow Prometheus 2.x (the version promtool checks our rules with): ranges include both
ends, ``rate``/``increase`` extrapolate like ``extrapolatedRate``, ``histogram_quantile`` interpolates
like ``bucketQuantile``, arithmetic drops the metric name and comparisons filter.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from deepfort.observability.promql import (
    COMPARISONS,
    SET_OPS,
    Aggregate,
    Binary,
    Call,
    Expr,
    MatrixSelector,
    Number,
    PromQLError,
    VectorSelector,
)
from deepfort.observability.tsdb import NAME, Labels, SeriesStore


@dataclass(frozen=True)
class Sample:
    labels: Labels
    value: float


Vector = list[Sample]
Value = float | Vector


def _div(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _mod(a: float, b: float) -> float:
    try:
        return math.fmod(a, b)
    except ValueError:  # x % 0 and inf % x: NaN in Go
        return math.nan


def _pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except (OverflowError, ValueError):
        return math.inf if a > 0 else math.nan


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _div,
    "%": _mod,
    "^": _pow,
}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}


def _drop_name(labels: Labels) -> Labels:
    return tuple(pair for pair in labels if pair[0] != NAME)


def evaluate(expr: Expr, store: SeriesStore, t: float) -> Value:
    """The value of ``expr`` at time ``t`` (seconds): a scalar or an instant vector."""
    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, VectorSelector):
        return [Sample(labels, value) for labels, value in store.instant(expr.name, expr.matchers, t)]
    if isinstance(expr, Call):
        return _call(expr, store, t)
    if isinstance(expr, Aggregate):
        return _aggregate(
            expr.op, _vector(evaluate(expr.expr, store, t), expr.op), expr.grouping, expr.without
        )
    if isinstance(expr, Binary):
        return _binary(expr.op, evaluate(expr.lhs, store, t), evaluate(expr.rhs, store, t))
    raise PromQLError(f"cannot evaluate {type(expr).__name__} here")


def _vector(value: Value, what: str) -> Vector:
    if isinstance(value, float):
        raise PromQLError(f"{what} needs an instant vector, got a scalar")
    return value


def _call(expr: Call, store: SeriesStore, t: float) -> Value:
    func, args = expr.func, expr.args
    if func == "vector":
        return [Sample((), _scalar(args[0]))]
    if func == "histogram_quantile":
        return _histogram_quantile(_scalar(args[0]), _vector(evaluate(args[1], store, t), func))
    if func == "absent":
        if _vector(evaluate(args[0], store, t), func):
            return []
        arg = args[0]
        labels = (
            tuple(sorted({m.name: m.value for m in arg.matchers if m.op == "=" and m.name != NAME}.items()))
            if isinstance(arg, VectorSelector)
            else ()
        )
        return [Sample(labels, 1.0)]
    selector = args[0]
    assert isinstance(selector, MatrixSelector)  # checked by promql.parse
    vs = selector.vector
    out: Vector = []
    for labels, points in store.window(vs.name, vs.matchers, t - selector.range_s, t):
        if func in ("rate", "increase"):
            value = _extrapolated_rate(points, t - selector.range_s, t, is_rate=func == "rate")
        else:
            value = _over_time(func, [v for _, v in points])
        if value is not None:
            out.append(Sample(_drop_name(labels), value))
    return out


def _scalar(expr: Expr) -> float:
    assert isinstance(expr, Number)
    return expr.value


def _over_time(func: str, values: list[float]) -> float:
    if func == "avg_over_time":
        return math.fsum(values) / len(values)
    if func == "min_over_time":
        return min(values, key=lambda v: math.inf if math.isnan(v) else v)
    return max(values, key=lambda v: -math.inf if math.isnan(v) else v)


def _extrapolated_rate(
    points: list[tuple[float, float]], start: float, end: float, *, is_rate: bool
) -> float | None:
    """Prometheus's ``extrapolatedRate`` for counters: resets handled, edges extrapolated."""
    if len(points) < 2:
        return None
    first_t, first_v = points[0]
    last_t, last_v = points[-1]
    result = last_v - first_v
    previous = 0.0
    for _, value in points:
        if value < previous:  # counter reset
            result += previous
        previous = value
    to_start = first_t - start
    to_end = end - last_t
    sampled = last_t - first_t
    average_gap = sampled / (len(points) - 1)
    if result > 0 and first_v >= 0:
        # A counter cannot go below zero: do not extrapolate past the point where it would be zero.
        to_start = min(to_start, sampled * (first_v / result))
    threshold = average_gap * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average_gap / 2
    interval += to_end if to_end < threshold else average_gap / 2
    factor = interval / sampled
    if is_rate:
        factor /= end - start  # in this order, as Prometheus does: results agree to the last bit
    return result * factor


def _histogram_quantile(q: float, vector: Vector) -> Vector:
    groups: dict[Labels, list[tuple[float, float]]] = {}
    for sample in vector:
        le = dict(sample.labels).get("le")
        if le is None:
            continue  # Prometheus ignores series without `le` here
        try:
            bound = float(le)
        except ValueError:
            continue
        key = tuple(pair for pair in sample.labels if pair[0] not in ("le", NAME))
        groups.setdefault(key, []).append((bound, sample.value))
    return [Sample(key, _bucket_quantile(q, buckets)) for key, buckets in groups.items()]


def _bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's ``bucketQuantile``: linear interpolation inside the bucket holding the rank."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    merged: dict[float, float] = {}
    for bound, count in buckets:
        merged[bound] = merged.get(bound, 0.0) + count
    ordered = sorted(merged.items())
    if not ordered or ordered[-1][0] != math.inf or len(ordered) < 2:
        return math.nan
    counts, highest = [], -math.inf
    for _, count in ordered:
        highest = max(highest, count)  # counts must not fall along the buckets (scrape skew)
        counts.append(highest)
    observations = counts[-1]
    if observations == 0 or math.isnan(observations):
        return math.nan
    rank = q * observations
    b = next((i for i in range(len(ordered) - 1) if counts[i] >= rank), len(ordered) - 1)
    if b == len(ordered) - 1:
        return ordered[-2][0]
    if b == 0 and ordered[0][0] <= 0:
        return ordered[0][0]
    start, end, count = 0.0, ordered[b][0], counts[b]
    if b > 0:
        start = ordered[b - 1][0]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)


def _aggregate(op: str, vector: Vector, grouping: tuple[str, ...], without: bool) -> Vector:
    groups: dict[Labels, list[float]] = {}
    dropped = {*grouping, NAME}
    for sample in vector:
        if without:
            key = tuple(pair for pair in sample.labels if pair[0] not in dropped)
        else:
            key = tuple(pair for pair in sample.labels if pair[0] in grouping)
        groups.setdefault(key, []).append(sample.value)
    return [Sample(key, _combine(op, values)) for key, values in groups.items()]


def _combine(op: str, values: list[float]) -> float:
    if op == "sum":
        return sum(values)
    if op == "count":
        return float(len(values))
    if op == "avg":
        return sum(values) / len(values)
    numbers = [v for v in values if not math.isnan(v)]
    if not numbers:
        return math.nan
    return min(numbers) if op == "min" else max(numbers)


def _binary(op: str, lhs: Value, rhs: Value) -> Value:
    if op in SET_OPS:
        return _set_op(op, _vector(lhs, op), _vector(rhs, op))
    if isinstance(lhs, float) and isinstance(rhs, float):
        if op in COMPARISONS:
            raise PromQLError(f"comparing two scalars needs `bool`, which is not supported: {lhs} {op} {rhs}")
        return _ARITHMETIC[op](lhs, rhs)
    if isinstance(lhs, float) or isinstance(rhs, float):
        return _vector_scalar(op, lhs, rhs)
    return _vector_vector(op, lhs, rhs)


def _vector_scalar(op: str, lhs: Value, rhs: Value) -> Vector:
    swapped = isinstance(lhs, float)
    vector, scalar = (rhs, lhs) if swapped else (lhs, rhs)
    assert isinstance(vector, list) and isinstance(scalar, float)
    out: Vector = []
    for sample in vector:
        a, b = (scalar, sample.value) if swapped else (sample.value, scalar)
        if op in COMPARISONS:
            if _COMPARE[op](a, b):
                out.append(sample)  # a comparison keeps the vector's value and name
        else:
            out.append(Sample(_drop_name(sample.labels), _ARITHMETIC[op](a, b)))
    return out


def _signatures(vector: Iterable[Sample]) -> dict[Labels, Sample]:
    by_signature: dict[Labels, Sample] = {}
    for sample in vector:
        signature = _drop_name(sample.labels)
        if signature in by_signature:
            raise PromQLError(
                f"many-to-many matching is not allowed: two series have labels {dict(signature)}"
            )
        by_signature[signature] = sample
    return by_signature


def _vector_vector(op: str, lhs: Vector, rhs: Vector) -> Vector:
    """One-to-one matching on all labels but the name (no ``on``/``ignoring`` in this subset)."""
    right = _signatures(rhs)
    matched: set[Labels] = set()
    out: Vector = []
    for sample in lhs:
        signature = _drop_name(sample.labels)
        match = right.get(signature)
        if match is None:
            continue
        if signature in matched:
            raise PromQLError(
                f"many-to-one matching is not supported: two series have labels {dict(signature)}"
            )
        matched.add(signature)
        if op in COMPARISONS:
            if _COMPARE[op](sample.value, match.value):
                out.append(sample)
        else:
            out.append(Sample(signature, _ARITHMETIC[op](sample.value, match.value)))
    return out


def _set_op(op: str, lhs: Vector, rhs: Vector) -> Vector:
    right = {_drop_name(sample.labels) for sample in rhs}
    if op == "and":
        return [s for s in lhs if _drop_name(s.labels) in right]
    if op == "unless":
        return [s for s in lhs if _drop_name(s.labels) not in right]
    left = {_drop_name(sample.labels) for sample in lhs}
    return lhs + [s for s in rhs if _drop_name(s.labels) not in left]

"""Replay a promtool rule-test file (``alert_rule_test`` cases) through deepfort's built-in evaluator."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deepfort.observability.alerts import AlertEvaluator
from deepfort.observability.metrics import Metrics
from deepfort.observability.promql import VectorSelector, parse, parse_duration
from deepfort.observability.query import evaluate
from deepfort.observability.tsdb import NAME, Labels, labels_of

MISSING = "missing"
STALE = "stale"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN"
_EXPANDING = re.compile(rf"({_NUMBER})(?:([-+])({_NUMBER}))?x(\d+)")


def expand_values(text: str) -> list[float | str]:
    """promtool's series notation: ``1 2``, ``a+bxn``, ``a-bxn``, ``axn``, ``_``, ``_xn``, ``stale``."""
    out: list[float | str] = []
    for token in text.split():
        if token == "_":
            out.append(MISSING)
        elif token == STALE:
            out.append(STALE)
        elif token.startswith("_x"):
            out.extend([MISSING] * int(token[2:]))
        elif match := _EXPANDING.fullmatch(token):
            start, sign, step, times = match.groups()
            delta = float(step or 0) * (-1 if sign == "-" else 1)
            out.extend(float(start) + i * delta for i in range(int(times) + 1))
        elif re.fullmatch(_NUMBER, token):
            out.append(float(token))
        else:
            raise ValueError(f"unsupported series value {token!r}")
    return out


def series_labels(text: str) -> dict[str, str]:
    """``name{a="b"}`` (or ``{a="b"}``) -> labels, with the name as ``__name__``."""
    selector = parse(text)
    assert isinstance(selector, VectorSelector)
    assert all(m.op == "=" for m in selector.matchers)
    name = {NAME: selector.name} if selector.name is not None else {}
    return {**name, **{m.name: m.value for m in selector.matchers}}


def _load(evaluator: AlertEvaluator, group: dict[str, Any]) -> None:
    interval = parse_duration(group.get("interval", "1m"))
    for series in group.get("input_series", []):
        labels = labels_of(series_labels(series["series"]))
        for i, value in enumerate(expand_values(str(series["values"]))):
            if value != MISSING:
                evaluator.store.add(labels, i * interval, None if value == STALE else float(value))


@dataclass(frozen=True)
class Expected:
    eval_time: float
    alertname: str
    alerts: list[tuple[dict[str, str], dict[str, str]]]  # (labels incl. alertname, annotations)


@dataclass(frozen=True)
class Outcome:
    expected: Expected
    got: list[tuple[dict[str, str], dict[str, str]]]


def _sorted(
    alerts: list[tuple[dict[str, str], dict[str, str]]],
) -> list[tuple[dict[str, str], dict[str, str]]]:
    return sorted(alerts, key=lambda a: sorted(a[0].items()))


def replay(test_file: Path) -> list[Outcome]:
    """Every ``alert_rule_test`` case of every group, with what the evaluator reported at its time."""
    spec = yaml.safe_load(test_file.read_text())
    eval_interval = parse_duration(spec.get("evaluation_interval", "1m"))
    (rule_file,) = spec["rule_files"]
    outcomes: list[Outcome] = []
    for group in spec["tests"]:
        evaluator = AlertEvaluator(Metrics(gpu=False), test_file.parent / rule_file, eval_interval)
        _load(evaluator, group)
        cases = [
            Expected(
                parse_duration(case["eval_time"]),
                case["alertname"],
                _sorted(
                    [
                        (
                            {
                                **{k: str(v) for k, v in (a.get("exp_labels") or {}).items()},
                                "alertname": case["alertname"],
                            },
                            {k: str(v) for k, v in (a.get("exp_annotations") or {}).items()},
                        )
                        for a in case.get("exp_alerts") or []
                    ]
                ),
            )
            for case in group.get("alert_rule_test", [])
        ]
        # promtool evaluates every interval from 0 and checks a case against the last evaluation at or
        # before its time.
        end = max(case.eval_time for case in cases)
        steps = math.floor(end / eval_interval + 0.5)
        for step in range(steps + 1):
            t = step * eval_interval
            evaluator.evaluate_at(t)
            for case in cases:
                if t <= case.eval_time < t + eval_interval:
                    got = [
                        (dict(a["labels"]), dict(a["annotations"]))  # type: ignore[call-overload]
                        for a in evaluator.alerts()
                        if a["name"] == case.alertname and a["state"] == "firing"
                    ]
                    outcomes.append(Outcome(case, _sorted(got)))
    return outcomes


@dataclass(frozen=True)
class ExprOutcome:
    expr: str
    eval_time: float
    expected: dict[Labels, float]
    got: dict[Labels, float]


def replay_exprs(test_file: Path, rules: Path) -> list[ExprOutcome]:
    """Every ``promql_expr_test`` case, with the built-in evaluator's answer (no rules are needed)."""
    spec = yaml.safe_load(test_file.read_text())
    outcomes: list[ExprOutcome] = []
    for group in spec["tests"]:
        evaluator = AlertEvaluator(Metrics(gpu=False), rules)
        _load(evaluator, group)
        for case in group.get("promql_expr_test", []):
            t = parse_duration(case["eval_time"])
            value = evaluate(parse(case["expr"]), evaluator.store, t)
            assert isinstance(value, list)
            expected = {
                labels_of(series_labels(s["labels"])): float(s["value"])
                for s in case.get("exp_samples") or []
            }
            outcomes.append(ExprOutcome(case["expr"], t, expected, {s.labels: s.value for s in value}))
    return outcomes

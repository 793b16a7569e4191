"""The built-in evaluator driven by a real Metrics registry, with its own clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deepfort.observability.alerts import AlertEvaluator
from deepfort.observability.metrics import Metrics
from deepfort.observability.promql import parse
from deepfort.observability.query import evaluate
from deepfort.observability.rules import RuleError, load_rules, packaged_rules

T0 = 1_800_000_000.0
STEP = 15.0


def drive(
    evaluator: AlertEvaluator, start: float, end: float, each: Callable[[float], None] = lambda t: None
) -> None:
    """Sample and evaluate every STEP seconds from ``start`` through ``end``, calling ``each`` first."""
    t = start
    while t <= end:
        each(t)
        evaluator.sample(t)
        evaluator.evaluate_at(t)
        t += STEP


def named(evaluator: AlertEvaluator, name: str) -> list[dict[str, object]]:
    return [a for a in evaluator.alerts() if a["name"] == name]


def test_center_down_pending_then_firing_then_resolved() -> None:
    metrics = Metrics(gpu=False)
    metrics.center_state("grpc://a:9443", up=False)
    metrics.center_state("grpc://b:9443", up=True)
    evaluator = AlertEvaluator(metrics, interval_s=STEP)
    drive(evaluator, T0, T0 + 45)
    (alert,) = evaluator.alerts()
    assert alert == {
        "name": "DeepfortCenterDown",
        "state": "pending",
        "labels": {"alertname": "DeepfortCenterDown", "severity": "critical", "target": "grpc://a:9443"},
        "annotations": {
            "summary": "Center grpc://a:9443 is down",
            "description": "The center grpc://a:9443 has failed its health probe for a minute; requests "
            "routed to it fall back to the edge's local model.",
        },
        "active_since": datetime.fromtimestamp(T0, UTC).isoformat(),
        "value": 0.0,
    }
    drive(evaluator, T0 + 60, T0 + 60)
    assert [a["state"] for a in evaluator.alerts()] == ["firing"]
    metrics.center_state("grpc://a:9443", up=True)
    drive(evaluator, T0 + 75, T0 + 75)
    assert evaluator.alerts() == []


def test_first_token_latency_from_real_histograms() -> None:
    metrics = Metrics(gpu=False)

    def traffic(t: float) -> None:
        for _ in range(5):
            metrics.request_finished(
                model="big", tier="center", ttft_s=0.8, itl_s=[0.05] * 20, e2e_s=2.0, queue_s=0.0,
                prompt_tokens=10, generation_tokens=21, finished_reason="stop",
            )  # fmt: skip
            metrics.request_finished(
                model="smol", tier="edge", ttft_s=0.1, itl_s=[0.01] * 20, e2e_s=0.3, queue_s=0.0,
                prompt_tokens=10, generation_tokens=21, finished_reason="stop",
            )  # fmt: skip

    evaluator = AlertEvaluator(metrics, interval_s=STEP)
    # The rate needs two samples: the condition holds from T0 + 15 s, firing 5 minutes later.
    drive(evaluator, T0, T0 + 300, traffic)
    assert [a["state"] for a in named(evaluator, "DeepfortHighFirstTokenLatency")] == ["pending"]
    drive(evaluator, T0 + 315, T0 + 315, traffic)
    (alert,) = named(evaluator, "DeepfortHighFirstTokenLatency")
    assert alert["state"] == "firing"
    assert alert["labels"] == {
        "alertname": "DeepfortHighFirstTokenLatency", "severity": "warning", "model": "big", "tier": "center",
    }  # fmt: skip
    # Every first token in the (0.75 s, 1 s] bucket: p95 interpolates to 0.75 + 0.25 * 0.95.
    assert alert["value"] == pytest.approx(0.9875)
    assert "has been 987.5ms (over 0.5s)" in str(alert["annotations"])


def test_error_rate_counts_server_errors_only() -> None:
    metrics = Metrics(gpu=False)

    def traffic(t: float) -> None:
        metrics.request_failed(code="invalid_api_key", status=401)  # not the service's fault
        metrics.request_failed(code="rate_limit_exceeded", status=429)
        metrics.request_finished(
            model="smol", tier="edge", ttft_s=0.1, itl_s=[], e2e_s=0.2, queue_s=None,
            prompt_tokens=1, generation_tokens=1, finished_reason="stop",
        )  # fmt: skip
        if t >= T0 + 600:
            metrics.request_failed(code="queue_full", status=503)

    evaluator = AlertEvaluator(metrics, interval_s=STEP)
    drive(evaluator, T0, T0 + 585, traffic)
    assert named(evaluator, "DeepfortHighErrorRate") == []
    drive(evaluator, T0 + 600, T0 + 1200, traffic)
    (alert,) = named(evaluator, "DeepfortHighErrorRate")
    assert alert["state"] == "firing"
    assert alert["value"] == pytest.approx(0.25)  # 1 of 4 requests a step


@pytest.mark.parametrize(
    ("accuracy", "samples", "fires"), [(0.7, 100, True), (0.7, 10, False), (0.9, 100, False)]
)
def test_answer_accuracy(accuracy: float, samples: int, fires: bool) -> None:
    metrics = Metrics(gpu=False)
    evaluator = AlertEvaluator(metrics, interval_s=STEP)
    drive(evaluator, T0, T0 + 300)  # absent accuracy: nothing to say
    assert named(evaluator, "DeepfortLowAnswerAccuracy") == []
    metrics.set_accuracy(accuracy, samples)
    drive(evaluator, T0 + 315, T0 + 615)
    states = [a["state"] for a in named(evaluator, "DeepfortLowAnswerAccuracy")]
    assert states == (["firing"] if fires else [])


def test_a_vanished_series_goes_stale_at_once() -> None:
    metrics = Metrics(gpu=False)
    models = {"busy": 40, "calm": 3}
    metrics.engine_source(lambda: [(m, 1, waiting, 0.5) for m, waiting in models.items()])
    evaluator = AlertEvaluator(metrics, interval_s=STEP)
    drive(evaluator, T0, T0 + 300)
    (alert,) = named(evaluator, "DeepfortQueueSaturated")
    assert (alert["state"], alert["labels"]["model"]) == ("firing", "busy")  # type: ignore[index]
    del models["busy"]  # unloaded: its series get stale markers, not five minutes of lookback
    drive(evaluator, T0 + 315, T0 + 315)
    waiting = evaluate(parse("deepfort:num_requests_waiting"), evaluator.store, T0 + 315)
    assert isinstance(waiting, list)
    assert [dict(s.labels)["model"] for s in waiting] == ["calm"]
    # The 1-minute average still holds the last minute's points, as in Prometheus; then the alert ends.
    drive(evaluator, T0 + 330, T0 + 360)
    assert len(named(evaluator, "DeepfortQueueSaturated")) == 1
    drive(evaluator, T0 + 375, T0 + 375)
    assert named(evaluator, "DeepfortQueueSaturated") == []


def test_store_stays_bounded() -> None:
    metrics = Metrics(gpu=False)
    metrics.request_finished(
        model="smol", tier="edge", ttft_s=0.1, itl_s=[0.01], e2e_s=0.2, queue_s=0.0,
        prompt_tokens=1, generation_tokens=1, finished_reason="stop",
    )  # fmt: skip
    evaluator = AlertEvaluator(metrics, interval_s=STEP, retention_s=900)
    drive(evaluator, T0, T0 + 900)
    series = len(evaluator.store)
    drive(evaluator, T0 + 915, T0 + 7200)
    assert len(evaluator.store) == series
    windows = list(evaluator.store.window(None, (), 0, T0 + 7200))
    assert windows and all(len(points) <= 900 / STEP + 1 for _, points in windows)
    assert not any(dict(labels)["__name__"].endswith("_created") for labels, _ in windows)


def write_rules(tmp_path: Path, rule: str, group_extra: str = "") -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(f"groups:\n  - name: g\n{group_extra}    rules:\n{rule}")
    return path


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("      - alert: A\n        expr: rate(x[5m]) offset 1m > 0\n", "alert 'A'.*'offset'"),
        ("      - alert: B\n        expr: irate(x[5m]) > 0\n", "alert 'B'.*function 'irate'"),
        (
            "      - alert: C\n        expr: x > 0\n        keep_firing_for: 5m\n",
            "alert 'C'.*keep_firing_for",
        ),
        (
            "      - alert: D\n        expr: x > 0\n        labels: {team: '{{ $labels.a }}'}\n",
            "alert 'D'.*templated",
        ),
        (
            "      - alert: E\n        expr: x > 0\n        annotations: {s: '{{ $value }}'}\n",
            r"alert 'E'.*\$value \}\} is not supported",
        ),
        (
            "      - alert: F\n        expr: x > 0\n        annotations: {s: '{{ humanize $value }}'}\n",
            "alert 'F'.*humanize",
        ),
        ("      - alert: G\n        expr: x > 0\n        for: 5 minutes\n", "alert 'G'.*not a duration"),
        ("      - record: job:x:rate5m\n        expr: rate(x[5m])\n", "recording rule 'job:x:rate5m'"),
        ("      - expr: x > 0\n", "needs `alert: <name>`"),
    ],
)
def test_unsupported_rules_are_refused_by_name(tmp_path: Path, rule: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        load_rules(write_rules(tmp_path, rule))


def test_group_options_and_bad_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="unsupported keys \\['interval'\\]"):
        load_rules(write_rules(tmp_path, "      - alert: A\n        expr: x > 0\n", "    interval: 30s\n"))
    bad = tmp_path / "bad.yml"
    bad.write_text("groups: [")
    with pytest.raises(RuleError, match=r"bad\.yml"):
        load_rules(bad)
    bad.write_text("rules: []\n")
    with pytest.raises(RuleError, match="`groups` list"):
        load_rules(bad)
    with pytest.raises(RuleError, match=r"missing\.yml"):
        load_rules(tmp_path / "missing.yml")


def test_ranges_must_fit_the_buffer(tmp_path: Path) -> None:
    path = write_rules(tmp_path, "      - alert: Long\n        expr: avg_over_time(x[2h]) > 1\n")
    with pytest.raises(RuleError, match="alert 'Long' reads 7500s of samples"):
        AlertEvaluator(Metrics(gpu=False), path, retention_s=3600)
    assert AlertEvaluator(Metrics(gpu=False), path, retention_s=3 * 3600).rules[0].name == "Long"


def test_default_rules_are_the_packaged_file() -> None:
    evaluator = AlertEvaluator(Metrics(gpu=False))
    assert evaluator.rules_path == packaged_rules()
    assert {rule.name for rule in evaluator.rules} == {
        "DeepfortHighFirstTokenLatency",
        "DeepfortHighErrorRate",
        "DeepfortQueueSaturated",
        "DeepfortGpuSaturated",
        "DeepfortLowAnswerAccuracy",
        "DeepfortCenterDown",
    }
    with pytest.raises(ValueError, match="interval_s"):
        AlertEvaluator(Metrics(gpu=False), interval_s=0)


def test_infinite_values_survive_json(tmp_path: Path) -> None:
    path = write_rules(tmp_path, "      - alert: Inf\n        expr: vector(1) / 0 > 0\n")
    evaluator = AlertEvaluator(Metrics(gpu=False), path)
    evaluator.evaluate_at(T0)
    (alert,) = evaluator.alerts()
    assert alert["value"] == "+Inf"
    assert alert["state"] == "firing"  # no `for`: fires on the first evaluation
    json.dumps(alert, allow_nan=False)


def test_run_samples_and_evaluates_until_cancelled(tmp_path: Path) -> None:
    path = write_rules(tmp_path, "      - alert: Down\n        expr: deepfort:center_up == 0\n")
    metrics = Metrics(gpu=False)
    metrics.center_state("grpc://a:9443", up=False)
    evaluator = AlertEvaluator(metrics, path, interval_s=0.01)

    async def main() -> list[dict[str, object]]:
        task = asyncio.create_task(evaluator.run())
        for _ in range(1000):
            if evaluator.alerts():
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return evaluator.alerts()

    (alert,) = asyncio.run(main())
    assert alert["labels"] == {"alertname": "Down", "target": "grpc://a:9443"}
    assert alert["state"] == "firing"

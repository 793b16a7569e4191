"""The built-in alert evaluator, for sites without Prometheus.

Every ``interval_s`` it samples the node's :class:`Metrics` registry into a bounded in-memory store and
evaluates the same rule file Prometheus would load, with Prometheus's ``for:`` semantics: an alert is
``pending`` from the first evaluation its expression returns a series, and ``firing`` once it has
returned it for ``for`` seconds without a gap; an evaluation without it ends the alert.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from deepfort.observability import promql
from deepfort.observability.metrics import Metrics
from deepfort.observability.query import Sample, evaluate
from deepfort.observability.rules import AlertRule, RuleError, load_rules, packaged_rules
from deepfort.observability.tsdb import LOOKBACK_S, NAME, Labels, SeriesStore, labels_of

log = logging.getLogger(__name__)

_SUFFIXED = ("counter", "histogram", "summary", "gaugehistogram")
_GO_SPECIAL = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}


@dataclass
class Alert:
    rule: str
    labels: Labels
    annotations: dict[str, str]
    active_since: float
    value: float
    state: Literal["pending", "firing"] = "pending"

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.rule,
            "state": self.state,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "active_since": datetime.fromtimestamp(self.active_since, UTC).isoformat(),
            # JSON has no NaN or infinities; Prometheus's API sends values as strings for the same reason.
            "value": self.value if math.isfinite(self.value) else _GO_SPECIAL[str(self.value)],
        }


class AlertEvaluator:
    """Sample ``metrics`` and evaluate the rules of ``rules_path`` (default: the packaged file).

    :meth:`run` does both every ``interval_s``; tests call :meth:`sample`, :meth:`evaluate_at` (or feed
    :attr:`store` directly) with their own clock.
    """

    def __init__(
        self,
        metrics: Metrics,
        rules_path: Path | None = None,
        interval_s: float = 15.0,
        *,
        retention_s: float = 3600.0,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.metrics = metrics
        self.rules_path = rules_path or packaged_rules()
        self.rules = load_rules(self.rules_path)
        for rule in self.rules:
            longest = max(promql.ranges(rule.expr), default=0.0) + LOOKBACK_S
            if longest > retention_s:
                raise RuleError(
                    f"{self.rules_path}: alert {rule.name!r} reads {longest:g}s of samples, "
                    f"more than the {retention_s:g}s the evaluator keeps"
                )
        self.interval_s = interval_s
        self.store = SeriesStore(retention_s)
        self._active: dict[str, dict[Labels, Alert]] = {rule.name: {} for rule in self.rules}

    async def run(self) -> None:
        """Sample and evaluate every ``interval_s`` until cancelled."""
        while True:
            now = time.time()
            self.sample(now)
            self.evaluate_at(now)
            await asyncio.sleep(self.interval_s)

    def sample(self, t: float) -> None:
        """Scrape the metrics registry into the store at time ``t`` (seconds since the epoch)."""
        self.store.ingest(t, self._scrape())

    def _scrape(self) -> Iterator[tuple[Labels, float]]:
        for family in self.metrics.registry.collect():
            for sample in family.samples:
                if family.type in _SUFFIXED and sample.name.endswith("_created"):
                    continue  # creation timestamps: no rule reads them
                yield labels_of({**sample.labels, NAME: sample.name}), float(sample.value)

    def evaluate_at(self, t: float) -> None:
        """Evaluate every rule at time ``t`` and move alerts between pending, firing and gone."""
        for rule in self.rules:
            try:
                result = evaluate(rule.expr, self.store, t)
            except promql.PromQLError:
                log.exception("alert %s: evaluation failed", rule.name)
                continue
            if isinstance(result, float):
                log.error("alert %s: expression gave a scalar, not a vector", rule.name)
                continue
            self._update(rule, result, t)

    def _update(self, rule: AlertRule, result: list[Sample], t: float) -> None:
        active = self._active[rule.name]
        seen: set[Labels] = set()
        for sample in result:
            series = {k: v for k, v in sample.labels if k != NAME}
            labels = labels_of({**series, **dict(rule.labels), "alertname": rule.name})
            if labels in seen:
                log.error(
                    "alert %s: two series with labels %s after adding the rule's labels", rule.name, labels
                )
                continue
            seen.add(labels)
            annotations = {key: template.expand(series, sample.value) for key, template in rule.annotations}
            alert = active.get(labels)
            if alert is None:
                alert = active[labels] = Alert(rule.name, labels, annotations, t, sample.value)
            alert.value, alert.annotations = sample.value, annotations
            if alert.state == "pending" and t - alert.active_since >= rule.for_s:
                alert.state = "firing"
        for labels in set(active) - seen:
            del active[labels]

    def alerts(self) -> list[dict[str, object]]:
        """Pending and firing alerts: name, state, labels, annotations, active_since (ISO 8601), value."""
        found = [alert for rule in self.rules for alert in self._active[rule.name].values()]
        return [alert.as_dict() for alert in sorted(found, key=lambda a: (a.rule, a.labels))]

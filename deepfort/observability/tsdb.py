"""A bounded in-memory sample store for the built-in alert evaluator (what Prometheus's TSDB is to rules).

Points older than the retention are dropped as new ones arrive, so memory stays bounded by
``series x retention / interval``. A series that vanishes from a scrape gets a stale marker, as in
Prometheus, so an instant query stops seeing its last value at once instead of five minutes later.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping

from deepfort.observability.promql import Matcher

Labels = tuple[tuple[str, str], ...]
"""A series' labels, sorted by name, including ``__name__``."""

Point = tuple[float, float | None]
"""``(time in seconds, value)``; a value of ``None`` is a stale marker."""

NAME = "__name__"
LOOKBACK_S = 300.0
"""How far back an instant selector looks for the latest point (Prometheus's default lookback delta)."""


def labels_of(mapping: Mapping[str, str]) -> Labels:
    return tuple(sorted(mapping.items()))


def _time(point: Point) -> float:
    return point[0]


class SeriesStore:
    def __init__(self, retention_s: float = 3600.0) -> None:
        if retention_s <= 0:
            raise ValueError("retention_s must be positive")
        self.retention_s = retention_s
        self._by_name: dict[str, dict[Labels, list[Point]]] = {}
        self._last_scrape: set[Labels] = set()

    def __len__(self) -> int:
        return sum(len(series) for series in self._by_name.values())

    def add(self, labels: Labels, t: float, value: float | None) -> None:
        """Append one point (``None``: stale marker); points older than the newest one are ignored."""
        name = dict(labels).get(NAME, "")
        points = self._by_name.setdefault(name, {}).setdefault(labels, [])
        if points and t <= points[-1][0]:
            return
        points.append((t, value))
        if points[0][0] < t - self.retention_s:
            del points[: bisect_left(points, t - self.retention_s, key=_time)]

    def ingest(self, t: float, samples: Iterable[tuple[Labels, float]]) -> None:
        """One scrape at ``t``: its samples, plus stale markers for series the last scrape had."""
        seen: set[Labels] = set()
        for labels, value in samples:
            seen.add(labels)
            self.add(labels, t, value)
        for labels in self._last_scrape - seen:
            self.add(labels, t, None)
        self._last_scrape = seen
        self._drop_expired(t)

    def _drop_expired(self, t: float) -> None:
        horizon = t - self.retention_s
        for name in list(self._by_name):
            series = self._by_name[name]
            for labels in [key for key, points in series.items() if points[-1][0] < horizon]:
                del series[labels]
            if not series:
                del self._by_name[name]

    def _matching(
        self, name: str | None, matchers: tuple[Matcher, ...]
    ) -> Iterator[tuple[Labels, list[Point]]]:
        groups = [self._by_name.get(name, {})] if name is not None else list(self._by_name.values())
        for series in groups:
            for labels, points in series.items():
                values = dict(labels)
                if all(m.matches(values.get(m.name, "")) for m in matchers):
                    yield labels, points

    def instant(
        self, name: str | None, matchers: tuple[Matcher, ...], t: float
    ) -> Iterator[tuple[Labels, float]]:
        """The latest point at or before ``t`` of each matching series, within the lookback, unless stale."""
        for labels, points in self._matching(name, matchers):
            end = bisect_right(points, t, key=_time)
            if end == 0:
                continue
            when, value = points[end - 1]
            if value is not None and when >= t - LOOKBACK_S:
                yield labels, value

    def window(
        self, name: str | None, matchers: tuple[Matcher, ...], start: float, end: float
    ) -> Iterator[tuple[Labels, list[tuple[float, float]]]]:
        """Points with ``start <= t <= end`` of each matching series (stale markers left out)."""
        for labels, points in self._matching(name, matchers):
            lo = bisect_left(points, start, key=_time)
            hi = bisect_right(points, end, key=_time)
            kept = [(when, value) for when, value in points[lo:hi] if value is not None]
            if kept:
                yield labels, kept

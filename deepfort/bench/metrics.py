"""Per-request timings in, the numbers ``vllm bench serve`` reports out.

TTFT is from sending a request to its first output chunk; TPOT is ``(latency - TTFT) / (output tokens -
1)`` per request (requests with one output token have none); ITL is every gap between two output chunks
of a request; E2E is the whole request. Each is summarised as mean, median (p50), p90 and p99 in ms.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_ERRORS = 5


@dataclass
class RequestResult:
    """What one request measured. Times are seconds from a monotonic clock."""

    ok: bool = False
    error: str | None = None
    ttft: float | None = None
    latency: float = 0.0
    itl: list[float] = field(default_factory=list)
    output_tokens: int = 0
    input_tokens: int | None = None

    @property
    def tpot(self) -> float | None:
        if not self.ok or self.ttft is None or self.output_tokens < 2:
            return None
        return (self.latency - self.ttft) / (self.output_tokens - 1)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation between ranks, as numpy's default;
    None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Distribution:
    """mean, median, p90 and p99 in milliseconds; all None when nothing was measured."""

    mean: float | None
    median: float | None
    p90: float | None
    p99: float | None

    @classmethod
    def of_seconds(cls, values: Sequence[float]) -> Distribution:
        ms = [v * 1000 for v in values]
        return cls(
            mean=statistics.fmean(ms) if ms else None,
            median=percentile(ms, 50),
            p90=percentile(ms, 90),
            p99=percentile(ms, 99),
        )


def _rate(amount: float, seconds: float) -> float:
    return amount / seconds if seconds > 0 else 0.0


@dataclass(frozen=True)
class Summary:
    completed: int
    failed: int
    errors: list[str]
    duration_s: float
    total_input_tokens: int
    total_output_tokens: int
    request_throughput: float
    output_throughput: float
    total_token_throughput: float
    ttft: Distribution
    tpot: Distribution
    itl: Distribution
    e2el: Distribution

    @classmethod
    def of(cls, results: Sequence[RequestResult], duration_s: float) -> Summary:
        done = [r for r in results if r.ok]
        errors: list[str] = []
        for r in results:
            if r.error and r.error not in errors and len(errors) < MAX_ERRORS:
                errors.append(r.error)
        input_tokens = sum(r.input_tokens or 0 for r in done)
        output_tokens = sum(r.output_tokens for r in done)
        return cls(
            completed=len(done),
            failed=len(results) - len(done),
            errors=errors,
            duration_s=duration_s,
            total_input_tokens=input_tokens,
            total_output_tokens=output_tokens,
            request_throughput=_rate(len(done), duration_s),
            output_throughput=_rate(output_tokens, duration_s),
            total_token_throughput=_rate(input_tokens + output_tokens, duration_s),
            ttft=Distribution.of_seconds([r.ttft for r in done if r.ttft is not None]),
            tpot=Distribution.of_seconds([t for r in done if (t := r.tpot) is not None]),
            itl=Distribution.of_seconds([gap for r in done for gap in r.itl]),
            e2el=Distribution.of_seconds([r.latency for r in done]),
        )

    def to_json(self) -> dict[str, object]:
        """Flat keys named as in the result file of ``vllm bench serve`` (``mean_ttft_ms``, ...)."""
        out: dict[str, object] = {
            "completed": self.completed,
            "failed": self.failed,
            "errors": self.errors,
            "duration": round(self.duration_s, 4),
            "total_input_tokens": self.total_input_tokens,
            "total_output_tokens": self.total_output_tokens,
            "request_throughput": round(self.request_throughput, 4),
            "output_throughput": round(self.output_throughput, 4),
            "total_token_throughput": round(self.total_token_throughput, 4),
        }
        for name in ("ttft", "tpot", "itl", "e2el"):
            dist: Distribution = getattr(self, name)
            for stat in ("mean", "median", "p90", "p99"):
                value = getattr(dist, stat)
                out[f"{stat}_{name}_ms"] = None if value is None else round(value, 3)
        return out

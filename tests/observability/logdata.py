"""Generated access logs with known volumes, latencies and statuses, for the report tests."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 11, 1, tzinfo=UTC)
KEYS = ("key-aaaa", "key-bbbb", None)
MODELS = ("smollm2-135m", "deepseek-r1")


@dataclass
class Hour:
    start: datetime
    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    @property
    def iso(self) -> str:
        return self.start.isoformat()


@dataclass
class GeneratedLog:
    hours: list[Hour]
    records: list[dict[str, object]]

    def volumes(self) -> list[int]:
        return [len(h.latencies) for h in self.hours]


def access_record(rng: random.Random, when: datetime, latency: float, status: int) -> dict[str, object]:
    prompt, completion = rng.randint(5, 60), rng.randint(1, 40)
    return {
        "ts": when.isoformat(timespec="milliseconds"),
        "level": "info",
        "logger": "deepfort.access",
        "msg": "request",
        "request_id": f"{rng.getrandbits(64):016x}",
        "key_id": rng.choice(KEYS),
        "model": rng.choice(MODELS),
        "tier": rng.choice(("local", "edge", "center", None)),
        "route_reason": "short question",
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "ttft_ms": round(latency / 3, 1),
        "latency_ms": latency,
        "status": status,
        "finish_reason": "stop" if status < 400 else None,
        "path": "/v1/chat/completions",
        "method": "POST",
    }


def generate(volumes: list[int], *, seed: int = 7, error_share: float = 0.1) -> GeneratedLog:
    """One hour per entry of ``volumes`` from :data:`START`, each with that many requests at random
    times inside the hour, random latencies (ms) and about ``error_share`` 4xx/5xx statuses."""
    rng = random.Random(seed)
    hours: list[Hour] = []
    records: list[dict[str, object]] = []
    for n, volume in enumerate(volumes):
        hour = Hour(START + timedelta(hours=n))
        for _ in range(volume):
            latency = round(rng.lognormvariate(5, 0.6), 2)
            status = rng.choice((400, 429, 500, 503)) if rng.random() < error_share else 200
            when = hour.start + timedelta(milliseconds=rng.randrange(3_600_000))
            hour.latencies.append(latency)
            hour.statuses.append(status)
            records.append(access_record(rng, when, latency, status))
        hours.append(hour)
    rng.shuffle(records)  # files are not in time order when several servers append
    return GeneratedLog(hours, records)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def as_lines(records: list[dict[str, object]]) -> list[str]:
    return [json.dumps(r) for r in records]

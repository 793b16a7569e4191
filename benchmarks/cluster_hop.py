"""What the edge -> center gRPC hop costs, and what a routing decision costs.

Starts a center (``deepfort serve --role center``) and an edge pointing at it, both on the embedded model
on loopback, then sends the same short streamed chat completion N times sequentially (a) straight to the
center's HTTP API and (b) to the edge, naming the center's model (so every request crosses the hop: HTTP
in, gRPC with SM4-GCM envelopes to the center, back). Reports time to first token and end-to-end latency
p50/p99 for both and the difference. Then times the complexity classifier and the full routing plan over
the labelled question set.

    python benchmarks/cluster_hop.py [--requests 200] [--max-tokens 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from single_stream import cpu_model, free_port

from deepfort.config import RoutingSettings
from deepfort.routing.centers import CenterPool
from deepfort.routing.classifier import ComplexityClassifier
from deepfort.routing.evaluate import load_items
from deepfort.routing.router import Router

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "tests" / "data" / "routing" / "questions.jsonl"


@contextmanager
def serve(config: dict[str, object], args: list[str], env: dict[str, str], tmp: Path) -> Iterator[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "deepfort.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "deepfort",
        "serve",
        "--config",
        str(tmp / "deepfort.yaml"),
        "--port",
        str(port),
    ]
    with (tmp / "log").open("wb") as log:
        process = subprocess.Popen([*command, *args], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise SystemExit((tmp / "log").read_text())
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def one(client: httpx.Client, url: str, model: str, max_tokens: int) -> tuple[float, float]:
    payload = {
        "model": model,
        "stream": True,
        "max_tokens": max_tokens,
        "temperature": 0,
        "messages": [{"role": "user", "content": "Say hello to the team."}],
    }
    start = time.perf_counter()
    first = None
    with client.stream("POST", f"{url}/v1/chat/completions", json=payload) as response:
        for line in response.iter_lines():
            if first is None and '"content":"' in line and '"content":""' not in line:
                first = time.perf_counter()
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(url: str, model: str, requests: int, max_tokens: int) -> dict[str, float]:
    with httpx.Client(timeout=60) as client:
        for _ in range(5):
            one(client, url, model, max_tokens)  # warm-up: prompt cache, connections
        samples = [one(client, url, model, max_tokens) for _ in range(requests)]
    ttft = [s[0] for s in samples]
    e2e = [s[1] for s in samples]
    return {
        "ttft_p50_ms": pct(ttft, 0.5),
        "ttft_p99_ms": pct(ttft, 0.99),
        "e2e_p50_ms": pct(e2e, 0.5),
        "e2e_p99_ms": pct(e2e, 0.99),
    }


class IdleCenter:
    """A center that is never asked anything: planning only picks it."""

    target = "grpc://idle:9443"

    async def open_chat(self, body: dict[str, Any], request_id: str) -> Any:
        raise NotImplementedError

    async def list_models(self) -> list[str]:
        return ["big"]

    async def health(self) -> bool:
        return True

    async def close(self) -> None:
        pass


def routing_cost() -> dict[str, float]:
    items = load_items(QUESTIONS)
    classifier = ComplexityClassifier()
    settings = RoutingSettings()
    centers = CenterPool(settings.health, settings.breaker)
    centers.add(IdleCenter(), names={"big": "big"})
    router = Router(settings, edge=True, local_models=lambda: ["small"], centers=centers)
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        for item in items:
            classifier.assess(item.question, item.history)
    classify_us = (time.perf_counter() - start) / (rounds * len(items)) * 1e6
    messages = [[{"role": "user", "content": item.question}] for item in items]
    start = time.perf_counter()
    for _ in range(rounds):
        for m in messages:
            router.plan("auto", m)
    plan_us = (time.perf_counter() - start) / (rounds * len(items)) * 1e6
    mean_chars = statistics.mean(len(item.question) for item in items)
    return {"classify_us": classify_us, "plan_us": plan_us, "questions": len(items), "mean_chars": mean_chars}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = {
        **os.environ,
        "DEEPFORT_CLUSTER__KEYS": "k1:" + secrets.token_hex(16),
        "DEEPFORT_CLUSTER__NODE_SECRET": secrets.token_hex(16),
    }
    grpc_port = free_port()
    center_config = {"models": [{"id": "center", "n_ctx": 1024, "n_parallel": 1, "n_threads": 1}]}
    edge_config = {
        "role": "edge",
        "models": [{"id": "edge", "n_ctx": 1024, "n_parallel": 1, "n_threads": 1}],
        "centers": [f"grpc://127.0.0.1:{grpc_port}"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        env["DEEPFORT_DATA_DIR"] = tmp
        center_args = ["--role", "center", "--grpc-port", str(grpc_port)]
        with (
            serve(center_config, center_args, env, Path(tmp) / "center") as center,
            serve(edge_config, [], env, Path(tmp) / "edge") as edge,
        ):
            for _ in range(100):
                stats = httpx.get(f"{edge}/stats").json()
                if stats.get("centers") and stats["centers"][0]["models"]:
                    break
                time.sleep(0.2)
            direct = measure(center, "center", args.requests, args.max_tokens)
            hop = measure(edge, "center", args.requests, args.max_tokens)
    result = {
        "cpu": cpu_model(),
        "requests": args.requests,
        "max_tokens": args.max_tokens,
        "direct": direct,
        "via_edge": hop,
        "added": {k: hop[k] - direct[k] for k in direct},
        "routing": routing_cost(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"CPU: {result['cpu']}; {args.requests} sequential streamed requests, max_tokens {args.max_tokens}\n"
    )
    print("| path | TTFT p50 ms | TTFT p99 ms | E2E p50 ms | E2E p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, row in (
        ("center direct (HTTP)", direct),
        ("edge -> center (HTTP + gRPC/SM4)", hop),
        ("added by the hop", result["added"]),
    ):
        cells = [row[k] for k in ("ttft_p50_ms", "ttft_p99_ms", "e2e_p50_ms", "e2e_p99_ms")]
        print(f"| {name} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    r = result["routing"]
    print(
        f"\nRouting: classifier {r['classify_us']:.1f} µs/question, full plan {r['plan_us']:.1f} µs/request "
        f"({r['questions']} questions, mean {r['mean_chars']:.0f} characters)"
    )


if __name__ == "__main__":
    main()

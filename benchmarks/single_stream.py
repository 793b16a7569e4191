"""Single-stream speed of `deepfort serve`: time to first token and decode tokens/s for a short prompt.

Starts a real server on a free loopback port (the embedded model unless --model is given), streams
``--runs`` chat completions one after another and prints the medians (``--json`` for a script).

    python benchmarks/single_stream.py [--model PATH|ID] [--runs 10] [--max-tokens 128] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PROMPT = "Write a short story about a lighthouse keeper."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def one_run(client: httpx.Client, model: str, max_tokens: int) -> dict[str, float]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    first = last = 0.0
    usage: dict[str, int] = {}
    with client.stream("POST", "/v1/chat/completions", json=body) as reply:
        reply.raise_for_status()
        for line in reply.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk["choices"]:
                if choice["delta"].get("content"):
                    now = time.perf_counter()
                    first = first or now
                    last = now
    tokens = usage["completion_tokens"]
    return {
        "ttft_s": first - start,
        "decode_tokens_per_s": (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0,
        "completion_tokens": tokens,
        "prompt_tokens": usage["prompt_tokens"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="GGUF path or model id (default: embedded model)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    port = free_port()
    command = [sys.executable, "-m", "deepfort", "serve", "--port", str(port), "--log-level", "warning"]
    if args.model:
        command += ["--model", args.model]
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "DEEPFORT_DATA_DIR": data_dir}
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=300) as client:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        if client.get("/ready").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline or server.poll() is not None:
                        sys.exit("server did not become ready")
                    time.sleep(0.1)
                model = client.get("/v1/models").json()["data"][0]["id"]
                one_run(client, model, 8)  # warm-up
                runs = [one_run(client, model, args.max_tokens) for _ in range(args.runs)]
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "model": model,
        "runs": args.runs,
        "max_tokens": args.max_tokens,
        "prompt_tokens": runs[0]["prompt_tokens"],
        "mean_completion_tokens": statistics.mean(r["completion_tokens"] for r in runs),
        "ttft_p50_ms": round(statistics.median(r["ttft_s"] for r in runs) * 1000, 1),
        "decode_tokens_per_s_p50": round(statistics.median(r["decode_tokens_per_s"] for r in runs), 1),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
    }
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()

"""deepfort against llama-cpp-python's own server on the same GGUF, with the bare batched loop as ceiling.

In one run, for each concurrency C (default 1, 4, 16, 32): ``deepfort bench --json`` with C clients
against ``deepfort serve --model GGUF --parallel P`` and against ``python -m llama_cpp.server --model GGUF``
(from the ``bench`` extra: ``pip install -e '.[bench]'``), each server started once on a free loopback
port with the same thread count; then ``raw_decode.py --parallel C``. Prints a markdown table (concurrency,
server, output tok/s, share of the raw loop, TTFT/TPOT/E2E p50, failures, peak RSS so far) with the
machine and the command, and writes it to ``--output`` (every bench result beside it, as ``.json``).

    python benchmarks/compare_servers.py [--model GGUF] [--concurrency 1,4,16,32] [--parallel 32]
        [--max-tokens 64] [--num-prompts N] [--threads N] [--servers deepfort,llama-cpp-python]
        [--output docs/benchmarks-servers.md]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
from single_stream import cpu_model, free_port

from deepfort.catalog import embedded_model_path

HERE = Path(__file__).resolve().parent
SERVERS = ("deepfort", "llama-cpp-python")
RAW = "raw llama.cpp loop"


@dataclass
class Row:
    concurrency: int
    server: str
    tok_s: float | None = None
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None
    failures: str = "-"
    rss_mib: float | None = None
    result: dict[str, Any] | None = None


def cpu_pressure() -> str:
    """Share of the last minute in which some runnable task waited for a CPU (Linux PSI): what else
    was running. llama.cpp's threads spin at barriers, so a busy machine slows it far more than 2x."""
    try:
        fields = Path("/proc/pressure/cpu").read_text().split()
        return next(f.split("=")[1] for f in fields if f.startswith("avg60=")) + " %"
    except (OSError, StopIteration):
        return "unknown"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def server_command(name: str, args: argparse.Namespace, port: int) -> tuple[list[str], str]:
    """The command line and the path that answers 200 once the server can take requests."""
    gguf, threads = str(args.model), str(args.threads)
    if name == "deepfort":
        command = [
            sys.executable,
            "-m",
            "deepfort",
            "serve",
            "--model",
            gguf,
            "--parallel",
            str(args.parallel),
        ]
        command += ["--port", str(port), "--threads", threads, "--log-level", "warning"]
        if args.deepfort_n_ctx:
            command += ["--n-ctx", str(args.deepfort_n_ctx)]
        return command, "/ready"
    # Its defaults would use half the cores and cut a running stream short whenever a request arrives.
    command = [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--n_ctx", str(args.llama_n_ctx)]
    command += [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_threads",
        threads,
        "--n_threads_batch",
        threads,
    ]
    command += ["--interrupt_requests", "false", "--verbose", "false"]
    return command, "/v1/models"


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


@contextmanager
def running(
    name: str, args: argparse.Namespace, tmp: Path
) -> Iterator[tuple[str, Callable[[], float | None]]]:
    """Start a server; yields its /v1 URL and a function reading its peak RSS so far."""
    port = free_port()
    command, ready = server_command(name, args, port)
    log(f"[{name}] {shlex.join(command)}")
    log_path = tmp / f"{name}.log"
    env = {**os.environ, "DEEPFORT_DATA_DIR": str(tmp / "data")}
    with log_path.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise SystemExit(f"{name} exited with {process.returncode}:\n{tail}")
            try:
                if httpx.get(base + ready, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} was not ready after 300 s; log: {log_path}")
            time.sleep(0.2)
        yield f"{base}/v1", lambda: peak_rss_mib(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def bench(url: str, concurrency: int, args: argparse.Namespace) -> dict[str, Any] | str:
    """``deepfort bench --json`` result, or the reason there is none."""
    num_prompts = args.num_prompts or max(8, 2 * concurrency)
    command = [
        sys.executable,
        "-m",
        "deepfort",
        "bench",
        "--url",
        url,
        "--json",
        "--concurrency",
        str(concurrency),
    ]
    command += ["--num-prompts", str(num_prompts), "--max-tokens", str(args.max_tokens)]
    command += ["--dataset", args.dataset, "--warmup", "1", "--seed", "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.bench_timeout, check=False)
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        return f"bench exited with {done.returncode}: {done.stderr.strip()[-300:]}"
    return result if isinstance(result, dict) else "bench printed no JSON object"


def server_rows(name: str, args: argparse.Namespace, tmp: Path) -> list[Row]:
    rows: list[Row] = []
    with running(name, args, tmp) as (url, rss):
        for c in args.concurrency:
            result = bench(url, c, args)
            row = Row(c, name, rss_mib=rss(), result=None if isinstance(result, str) else result)
            if isinstance(result, str):
                row.failures = result
            else:
                row.tok_s, row.ttft_ms = result["output_throughput"], result["median_ttft_ms"]
                row.tpot_ms, row.e2e_ms = result["median_tpot_ms"], result["median_e2el_ms"]
                row.failures = f"{result['failed']}/{result['failed'] + result['completed']}"
                if result["errors"]:
                    row.failures += f" ({result['errors'][0][:80]})"
            log(f"[{name}] concurrency {c}: {row.tok_s} tok/s, failures {row.failures}")
            rows.append(row)
    return rows


def raw_row(concurrency: int, args: argparse.Namespace) -> Row:
    command = [sys.executable, str(HERE / "raw_decode.py"), "--model", str(args.model)]
    command += [
        "--parallel",
        str(concurrency),
        "--tokens",
        str(args.max_tokens),
        "--runs",
        str(args.raw_runs),
    ]
    command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.bench_timeout, check=False)
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return Row(concurrency, RAW, failures=f"exited with {done.returncode}: {done.stderr.strip()[-200:]}")
    tok_s = float(result["decode_tokens_per_s_p50"])
    log(f"[raw] parallel {concurrency}: {tok_s} tok/s")
    # TTFT here is the prefill of all C prompts in one batch; TPOT is one decode step.
    return Row(concurrency, RAW, tok_s, result["prompt_ms_p50"], 1000 * concurrency / tok_s, result=result)


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown(rows: list[Row], args: argparse.Namespace, command: str, pressure: str) -> str:
    raw = {r.concurrency: r.tok_s for r in rows if r.server == RAW}
    head = [
        f"## Servers under concurrent load ({datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC)",
        "",
        f"Machine: `nproc` = {os.cpu_count()}, {cpu_model()}. deepfort {version('deepfort')}, "
        f"llama-cpp-python {version('llama-cpp-python')}. Model: `{Path(args.model).name}`.",
        f"Load: `deepfort bench`, streaming chat, dataset `{args.dataset}`, {args.max_tokens} max tokens, "
        f"temperature 0, max(8, 2 x concurrency) prompts unless set, one warm-up request; "
        f"{args.threads} threads for every server and the loop; deepfort with `--parallel {args.parallel}`, "
        f"llama-cpp-python's server with `--n_ctx {args.llama_n_ctx} --interrupt_requests false`.",
        "The raw loop decodes C copies of one prompt together (EOS ignored); its TTFT column is the prefill "
        "of all C prompts in one batch, its TPOT one decode step. llama-cpp-python's server sends no usage "
        "chunk, so its output tokens are counted as content chunks.",
        f"CPU pressure (PSI `some avg60`) before and after the run: {pressure}; above a few per cent "
        "something else was running and the numbers are not comparable.",
        "",
        "| concurrency | server | output tok/s | % of raw loop | TTFT p50 ms | TPOT p50 ms | E2E p50 ms "
        "| failures | peak RSS MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    order = {name: i for i, name in enumerate((*SERVERS, RAW))}
    lines = []
    for r in sorted(rows, key=lambda r: (r.concurrency, order.get(r.server, 99))):
        ceiling = raw.get(r.concurrency)
        share = f"{100 * r.tok_s / ceiling:.0f} %" if r.tok_s and ceiling and r.server != RAW else "-"
        lines.append(
            f"| {r.concurrency} | {r.server} | {_num(r.tok_s)} | {share} | {_num(r.ttft_ms)} | "
            f"{_num(r.tpot_ms)} | {_num(r.e2e_ms)} | {r.failures} | {_num(r.rss_mib)} |"
        )
    return "\n".join([*head, *lines, "", "Command:", "", "```sh", command, "```", ""])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: the embedded model)")
    parser.add_argument("--concurrency", default="1,4,16,32", help="comma-separated client counts")
    parser.add_argument("--parallel", type=int, default=32, help="deepfort serve --parallel")
    parser.add_argument("--deepfort-n-ctx", type=int, default=None, help="deepfort serve --n-ctx")
    parser.add_argument("--llama-n-ctx", type=int, default=4096, help="llama_cpp.server --n_ctx")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--num-prompts", type=int, default=None, help="default: max(8, 2 x concurrency)")
    parser.add_argument("--dataset", default="builtin:short", help="deepfort bench --dataset")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"some of: {', '.join(SERVERS)}")
    parser.add_argument("--raw-runs", type=int, default=3, help="raw_decode.py --runs (median)")
    parser.add_argument("--bench-timeout", type=float, default=1800, help="seconds for one bench run")
    parser.add_argument("--output", type=Path, default=Path("docs/benchmarks-servers.md"))
    args = parser.parse_args()
    args.model = (args.model or embedded_model_path()).resolve()
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(args.servers) - set(SERVERS)
    if unknown or not args.concurrency or min(args.concurrency) < 1:
        parser.error(f"unknown servers {sorted(unknown)} or bad --concurrency")
    return args


def main() -> None:
    args = parse_args()
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else "python"
    command = shlex.join([python, *sys.argv])
    if "llama-cpp-python" in args.servers and importlib.util.find_spec("sse_starlette") is None:
        raise SystemExit("llama-cpp-python's server is not installed: pip install -e '.[bench]'")
    before = cpu_pressure()
    log(f"CPU pressure (PSI some avg60) now: {before}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.servers:
            rows += server_rows(name, args, Path(tmp))
    rows += [raw_row(c, args) for c in args.concurrency]
    text = markdown(rows, args, command, f"{before} / {cpu_pressure()}")
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    details = args.output.with_suffix(".json")
    details.write_text(json.dumps([r.__dict__ for r in rows], indent=2, ensure_ascii=False) + "\n")
    log(f"written to {args.output} (every bench result in {details})")


if __name__ == "__main__":
    main()

"""deepfort against llama.cpp's own ``llama-server`` on the same GGUF, with the bare batched loop as ceiling.

In one run, for each concurrency C (default 1, 4, 16): ``deepfort bench --json`` with C clients against
each server, started once on a free loopback port with the same thread count and the same slots:

- ``deepfort``: ``deepfort serve --model GGUF --parallel P`` (moderation on, as by default);
- ``deepfort-defaults``: ``deepfort serve --model GGUF``, every setting its default (the slot count
  chosen from the machine);
- ``deepfort-no-moderation``: as ``deepfort``, with ``guard.moderation.enabled: false``;
- ``deepfort-unified``: as ``deepfort``, with one KV pool for all slots (``--kv-unified``) instead of
  a stream per slot;
- ``deepfort-b``: as ``deepfort``, plus the ``deepfort serve`` flags given with ``--b-args`` (the B of
  an interleaved A/B pair, e.g. ``--b-args "--prefill-chunk 512"``);
- ``llama-server``: llama.cpp's server built from the llama.cpp sources vendored in the llama-cpp-python
  sdist deepfort runs (:mod:`llama_server` builds it once), ``-np P -c P x n_ctx``;
- ``llama-cpp-python``: ``python -m llama_cpp.server`` (the ``bench`` extra), one request at a time;

then ``raw_decode.py --parallel C``. ``--repeat N`` runs the servers N times back to back (each run
starts every server afresh). Prints a markdown table (run, concurrency, server, output tok/s, share of the
raw loop, TTFT p50/p99, TPOT and E2E p50, failures, peak RSS so far) with the machine and the command, and
writes it to ``--output`` (every bench result beside it, as ``.json``).

    python benchmarks/compare_servers.py [--model GGUF] [--concurrency 1,4,16] [--parallel 16]
        [--max-tokens 64] [--num-prompts N] [--temperature 0.7] [--ignore-eos] [--threads N] [--repeat 3]
        [--servers deepfort,llama-server] [--output docs/benchmarks-servers.md]
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
import llama_server
from single_stream import cpu_model, free_port

from deepfort.catalog import embedded_model_path

HERE = Path(__file__).resolve().parent
SERVERS = (
    "deepfort",
    "deepfort-defaults",
    "deepfort-no-moderation",
    "deepfort-unified",
    "deepfort-b",
    "llama-server",
    "llama-cpp-python",
)
RAW = "raw llama.cpp loop"


@dataclass
class Row:
    concurrency: int
    server: str
    run: int = 1
    tok_s: float | None = None
    ttft_ms: float | None = None
    ttft_p99_ms: float | None = None
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


def server_command(name: str, args: argparse.Namespace, port: int, tmp: Path) -> tuple[list[str], str]:
    """The command line and the path that answers 200 once the server can take requests."""
    gguf, threads = str(args.model), str(args.threads)
    if name.startswith("deepfort"):
        command = [sys.executable, "-m", "deepfort", "serve", "--model", gguf, "--port", str(port)]
        command += ["--log-level", "warning"]
        if name != "deepfort-defaults":
            command += ["--parallel", str(args.parallel), "--threads", threads, "--n-ctx", str(args.n_ctx)]
            command += ["--kv-cells", str(args.n_ctx * args.parallel)]  # a full context per slot
        if name == "deepfort-no-moderation":
            config = tmp / "no-moderation.yaml"
            config.write_text("guard:\n  moderation:\n    enabled: false\n", encoding="utf-8")
            command += ["--config", str(config)]
        if name == "deepfort-unified":
            command += ["--kv-unified"]
        if name == "deepfort-b":
            command += shlex.split(args.b_args)
        return command, "/ready"
    if name == "llama-server":
        # Slots share -c cells; each gets n_ctx like deepfort's. Its default sampling chain (top-k 40,
        # top-p 0.95, min-p 0.05) applies where a request leaves a field out.
        command = [str(args.llama_server), "--model", gguf, "--host", "127.0.0.1", "--port", str(port)]
        command += ["--threads", threads, "--threads-batch", threads, "--parallel", str(args.parallel)]
        command += ["--ctx-size", str(args.n_ctx * args.parallel), "--no-webui", "--log-disable"]
        return command, "/health"
    # Its defaults would use half the cores and cut a running stream short whenever a request arrives.
    command = [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--n_ctx", str(args.n_ctx)]
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
    command, ready = server_command(name, args, port, tmp)
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
    num_prompts = args.num_prompts or max(8, 3 * concurrency)
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
    command += ["--temperature", str(args.temperature)]
    if args.ignore_eos:
        command += ["--ignore-eos"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.bench_timeout, check=False)
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        return f"bench exited with {done.returncode}: {done.stderr.strip()[-300:]}"
    return result if isinstance(result, dict) else "bench printed no JSON object"


def server_rows(name: str, args: argparse.Namespace, tmp: Path, run: int) -> list[Row]:
    rows: list[Row] = []
    with running(name, args, tmp) as (url, rss):
        for c in args.concurrency:
            result = bench(url, c, args)
            row = Row(c, name, run, rss_mib=rss(), result=None if isinstance(result, str) else result)
            if isinstance(result, str):
                row.failures = result
            else:
                row.tok_s, row.ttft_ms = result["output_throughput"], result["median_ttft_ms"]
                row.ttft_p99_ms = result["p99_ttft_ms"]
                row.tpot_ms, row.e2e_ms = result["median_tpot_ms"], result["median_e2el_ms"]
                row.failures = f"{result['failed']}/{result['failed'] + result['completed']}"
                if result["errors"]:
                    row.failures += f" ({result['errors'][0][:80]})"
            log(
                f"[{name}] run {run}, concurrency {c}: {row.tok_s} tok/s, TTFT p50 {row.ttft_ms} ms, "
                f"failures {row.failures}"
            )
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
    return Row(
        concurrency,
        RAW,
        tok_s=tok_s,
        ttft_ms=result["prompt_ms_p50"],
        tpot_ms=1000 * concurrency / tok_s,
        result=result,
    )


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown(rows: list[Row], args: argparse.Namespace, command: str, pressure: str) -> str:
    raw = {r.concurrency: r.tok_s for r in rows if r.server == RAW}
    head = [
        f"## Servers under concurrent load ({datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC)",
        "",
        f"Machine: `nproc` = {os.cpu_count()}, {cpu_model()}. deepfort {version('deepfort')}, "
        f"llama-cpp-python {version('llama-cpp-python')} (llama-server built from its vendored llama.cpp). "
        f"Model: `{Path(args.model).name}`.",
        f"Load: `deepfort bench`, streaming chat, dataset `{args.dataset}`, {args.max_tokens} max tokens, "
        f"temperature {args.temperature}, seed 0, max(8, 3 x concurrency) prompts unless set, one warm-up "
        f"request; {args.threads} threads and {args.parallel} slots of {args.n_ctx} tokens for every server "
        "and the loop, except `deepfort-defaults` (every setting its default) and llama-cpp-python's "
        "server (one request at a time, `--interrupt_requests false`). Each server fills in its own "
        "sampling defaults for what the request leaves out (deepfort's embedded model: top-k 40, top-p 0.9; "
        "llama-server: top-k 40, top-p 0.95, min-p 0.05).",
        "The raw loop decodes C copies of one prompt together (EOS ignored); its TTFT column is the prefill "
        "of all C prompts in one batch, its TPOT one decode step. llama-cpp-python's server sends no usage "
        "chunk, so its output tokens are counted as content chunks.",
        f"CPU pressure (PSI `some avg60`) before and after the run: {pressure}; above a few per cent "
        "something else was running and the numbers are not comparable.",
        "",
        "| run | concurrency | server | output tok/s | % of raw loop | TTFT p50 ms | TTFT p99 ms "
        "| TPOT p50 ms | E2E p50 ms | failures | peak RSS MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    order = {name: i for i, name in enumerate((*SERVERS, RAW))}
    lines = []
    for r in sorted(rows, key=lambda r: (r.concurrency, r.server == RAW, r.run, order.get(r.server, 99))):
        ceiling = raw.get(r.concurrency)
        share = f"{100 * r.tok_s / ceiling:.0f} %" if r.tok_s and ceiling and r.server != RAW else "-"
        run = "-" if r.server == RAW else str(r.run)
        lines.append(
            f"| {run} | {r.concurrency} | {r.server} | {_num(r.tok_s)} | {share} | {_num(r.ttft_ms)} "
            f"| {_num(r.ttft_p99_ms)} | {_num(r.tpot_ms)} | {_num(r.e2e_ms)} | {r.failures} "
            f"| {_num(r.rss_mib)} |"
        )
    return "\n".join([*head, *lines, "", "Command:", "", "```sh", command, "```", ""])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: the embedded model)")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated client counts")
    parser.add_argument("--parallel", type=int, default=16, help="slots of every server")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context of one slot, in tokens")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--num-prompts", type=int, default=None, help="default: max(8, 3 x concurrency)")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--ignore-eos", action="store_true", help="every answer runs to --max-tokens")
    parser.add_argument("--dataset", default="builtin:short", help="deepfort bench --dataset")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--servers", default="deepfort,llama-server", help=f"some of: {', '.join(SERVERS)}")
    parser.add_argument("--b-args", default="", help="deepfort serve flags of the deepfort-b server")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every server, back to back")
    parser.add_argument("--llama-server", type=Path, default=None, help="binary (default: build it)")
    parser.add_argument("--raw-runs", type=int, default=3, help="raw_decode.py --runs (median)")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw loop")
    parser.add_argument("--bench-timeout", type=float, default=1800, help="seconds for one bench run")
    parser.add_argument("--output", type=Path, default=Path("docs/benchmarks-servers.md"))
    args = parser.parse_args()
    args.model = (args.model or embedded_model_path()).resolve()
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(args.servers) - set(SERVERS)
    if unknown or not args.concurrency or min(args.concurrency) < 1 or args.repeat < 1:
        parser.error(f"unknown servers {sorted(unknown)}, bad --concurrency or bad --repeat")
    return args


def main() -> None:
    args = parse_args()
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else "python"
    command = shlex.join([python, *sys.argv])
    if "llama-cpp-python" in args.servers and importlib.util.find_spec("sse_starlette") is None:
        raise SystemExit("llama-cpp-python's server is not installed: pip install -e '.[bench]'")
    if "llama-server" in args.servers and args.llama_server is None:
        args.llama_server = llama_server.ensure_built()
    before = cpu_pressure()
    log(f"CPU pressure (PSI some avg60) now: {before}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(1, args.repeat + 1):
            for name in args.servers:
                rows += server_rows(name, args, Path(tmp), run)
    if not args.no_raw:
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

"""Where a serving process spends its time under load: py-spy samples ``deepfort serve`` while
``deepfort bench`` drives it, and the samples are summed per thread.

Starts ``deepfort serve --model GGUF --parallel P --threads T`` (plus ``--serve-arg`` values) on a free
loopback port, sends one warm-up round, then records ``py-spy record --format raw --threads --idle`` for
``--seconds`` while C streaming clients run. Prints a markdown summary: per thread, the share of samples in
which it ran Python or a C call made from Python (idle waits counted apart), and its top frames by self
time. ctypes releases the GIL inside llama.cpp, so ``llama_decode`` shows as the line of
``Scheduler._step`` that calls it; samples of a thread waiting for the GIL count as active at the line it
waits on. Needs py-spy (the ``bench`` extra) and permission to read another process (root, or
``kernel.yama.ptrace_scope`` 0).

    python benchmarks/profile_serving.py [--concurrency 16] [--seconds 20] [--parallel 16] [--top 8]
        [--serve-arg=--config=FILE] [--raw-output prof.txt]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
from single_stream import free_port

IDLE = (".select (selectors.py)", "Condition.wait (threading.py)", "_worker (concurrent/futures/thread.py)")


def summarize(raw: str, top: int) -> str:
    """Markdown: per thread, active share and the top self frames (file:line dropped for grouping)."""
    total: Counter[str] = Counter()
    active: Counter[str] = Counter()
    frames: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        parts = stack.split(";")
        thread = parts[0].split(":")[-1].strip() or parts[0]
        leaf = re.sub(r":\d+\)", ")", parts[-1]) if len(parts) > 1 else "(no frame)"
        n = int(count)
        total[thread] += n
        if leaf.endswith(IDLE):
            frames[thread]["(idle wait)"] += n
            continue
        active[thread] += n
        frames[thread][leaf] += n
    lines = ["| thread | samples | active | top frames by self time (share of the thread's samples) |"]
    lines.append("| --- | --- | --- | --- |")
    for thread, n in total.most_common():
        if not active[thread]:
            continue
        tops = "; ".join(f"{name} {100 * c / n:.1f} %" for name, c in frames[thread].most_common(top))
        lines.append(f"| {thread} | {n} | {100 * active[thread] / n:.1f} % | {tops} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--serve-arg", action="append", default=[], help="extra `deepfort serve` argument")
    parser.add_argument("--raw-output", type=Path, default=None, help="keep py-spy's raw samples here")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    port = free_port()
    serve = [sys.executable, "-m", "deepfort", "serve", "--port", str(port), "--log-level", "warning"]
    serve += ["--parallel", str(args.parallel), "--threads", str(args.threads), *args.serve_arg]
    url = f"http://127.0.0.1:{port}"
    bench = [sys.executable, "-m", "deepfort", "bench", "--url", f"{url}/v1", "--json", "--warmup", "0"]
    bench += ["--concurrency", str(args.concurrency), "--max-tokens", str(args.max_tokens)]
    bench += ["--temperature", str(args.temperature), "--dataset", "builtin:short", "--seed", "0"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DEEPFORT_DATA_DIR": str(Path(tmp) / "data")}
        server = subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("deepfort serve did not become ready")
                time.sleep(0.2)
            subprocess.run([*bench, "--num-prompts", str(args.concurrency)], capture_output=True, check=True)
            raw = Path(tmp) / "raw.txt"
            record = [spy, "record", "--pid", str(server.pid), "--format", "raw", "--threads", "--idle"]
            record += ["--rate", str(args.rate), "--duration", str(args.seconds), "--output", str(raw)]
            spying = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            load = subprocess.Popen(
                [*bench, "--num-prompts", str(args.concurrency * 100)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            spying.wait()
            load.terminate()
            load.wait()
            text = raw.read_text()
            if args.raw_output:
                args.raw_output.write_text(text)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"Profile of `{shlex.join(['deepfort', *serve[3:]])}` under {args.concurrency} streaming clients, "
        f"{args.seconds} s at {args.rate} samples/s:\n"
    )
    print(summarize(text, args.top))


if __name__ == "__main__":
    main()

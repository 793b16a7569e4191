"""Latency the guards add to one request, on the default settings.

Input guard: detect and mask the personal data of a user message (``apply_policy("mask", ...)``).
Output guard: an answer streamed in 4-character deltas through a :class:`StreamModerator` (default
lexicons, action ``redact``) and an :class:`Unmasker` restoring the placeholders it quotes.

The texts mix Chinese and English, carry a few PII values (phone, ID card, email, bank card) and no banned
phrase. Prints p50/p99 per request as a markdown table, or ``--json``.

    python benchmarks/guard_latency.py [--sizes 1024,16384] [--runs 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from deepfort.config import ModerationSettings, PiiSettings
from deepfort.guard.masking import PolicyResult, apply_policy
from deepfort.guard.moderation import Moderator
from deepfort.guard.pii import PiiDetector

SENTENCES = [
    "您好，我想咨询一下贷款的申请流程，需要准备哪些材料？",
    "Please summarise the quarterly report and list the three main risks.",
    "我的手机号是13812345678，身份证号11010519491231002X，请帮我核对信息。",
    "The meeting moved to Thursday; send the minutes to zhang.san@example.com before noon.",
    "退款请打到卡号 6222 0212 3456 7894，谢谢！",
    "模型部署在内网服务器上，响应速度和数据安全都很重要。",
    "We compared latency and throughput across three GPU types and two batch sizes.",
]


def make_text(size: int) -> str:
    """Sentences in turn until the UTF-8 text reaches ``size`` bytes."""
    pieces: list[str] = []
    total = 0
    while total < size:
        sentence = SENTENCES[len(pieces) % len(SENTENCES)]
        pieces.append(sentence)
        total += len(sentence.encode()) + 1
    return "\n".join(pieces)


@dataclass
class Row:
    guard: str
    size_bytes: int
    chars: int
    runs: int
    p50_ms: float
    p99_ms: float


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1e3, p99 * 1e3


def timed(work: Callable[[], object], runs: int) -> list[float]:
    work()  # warm caches (folding table, regex compilation) once
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1024,16384", help="text sizes in UTF-8 bytes")
    parser.add_argument("--runs", type=int, default=200, help="requests timed per guard and size")
    parser.add_argument("--delta-chars", type=int, default=4, help="characters per streamed delta")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.runs < 1 or args.delta_chars < 1:
        parser.error("--runs and --delta-chars must be >= 1")

    detector = PiiDetector(PiiSettings())
    moderator = Moderator(ModerationSettings(action="redact"))
    rows: list[Row] = []
    for size in (int(s) for s in args.sizes.split(",")):
        text = make_text(size)
        masked = apply_policy("mask", detector, [text])
        answer = masked.texts[0]  # the model quotes the placeholders back
        deltas = [answer[i : i + args.delta_chars] for i in range(0, len(answer), args.delta_chars)]

        def input_guard(text: str = text) -> object:
            return apply_policy("mask", detector, [text])

        def output_guard(deltas: list[str] = deltas, masked: PolicyResult = masked) -> str:
            stream = moderator.stream()
            unmasker = masked.unmasker()
            out = [unmasker.feed(stream.feed(delta).text) for delta in deltas]
            out.append(unmasker.feed(stream.finish().text) + unmasker.finish())
            return "".join(out)

        if output_guard() != text:
            raise SystemExit(f"{size} bytes: the output guard did not restore the original text")
        for name, work in (("input (detect+mask)", input_guard), ("output (moderate+unmask)", output_guard)):
            p50, p99 = percentiles(timed(work, args.runs))
            rows.append(Row(name, size, len(text), args.runs, p50, p99))

    if args.json:
        machine = {"python": platform.python_version(), "cpu": platform.machine(), "cpus": os.cpu_count()}
        print(json.dumps({"machine": machine, "rows": [asdict(row) for row in rows]}, indent=2))
        return
    print("| guard | size | chars | runs | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        cells = [
            row.guard,
            f"{row.size_bytes} B",
            row.chars,
            row.runs,
            f"{row.p50_ms:.3f}",
            f"{row.p99_ms:.3f}",
        ]
        print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()

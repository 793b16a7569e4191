"""What a run file says about a model: per suite and per subject, the score, how many answers could not
be parsed or were cut by ``max_tokens``, how long the reasoning and the answers were, and how fast the
server answered.

``score`` is the mean over questions of each question's share of correct samples: accuracy with one
sample, pass@1 averaged over N samples with N (for code suites it is called pass@1, as in the HumanEval
paper and DeepSeek's reports). ``pass_at_k`` (code suites, when every question has at least k samples)
uses the unbiased estimator of :mod:`deepfort.evals.passk`.

Throughput is measured per session of the run file (each time a run opened it): the answers a session
received over the time from its first request to its last answer, summed over sessions.
``questions_per_minute`` counts answered (question, sample) pairs; ``requests_per_second`` counts HTTP
requests (one per generated answer, one per option in ``loglikelihood`` mode, one per judge call).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from deepfort.evals.cache import AnswerKey, RunData

__all__ = ["DEFAULT_KS", "build_report", "print_report", "summarise"]

DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 100)
"""The k of pass@k reported for code suites, as far as the samples per question allow."""

NO_SUBJECT = "(none)"


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def summarise(answers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Score and rates of one group of answers (a suite, a subject)."""
    by_item: dict[str, list[bool]] = defaultdict(list)
    for answer in answers:
        by_item[str(answer["item"])].append(bool(answer.get("correct")))
    scores = [sum(v) / len(v) for v in by_item.values()]
    generated = [a["answer"] for a in answers if isinstance(a.get("answer"), Mapping)]
    reasoning = [float(g.get("reasoning_tokens") or 0) for g in generated]
    answer_tokens = [
        float(max(0, (g.get("completion_tokens") or 0) - (g.get("reasoning_tokens") or 0))) for g in generated
    ]
    return {
        "score": round(sum(scores) / len(scores), 4) if scores else 0.0,
        "n": len(by_item),
        "answers": len(answers),
        "samples": max((len(v) for v in by_item.values()), default=0),
        "correct": sum(bool(a.get("correct")) for a in answers),
        "unparsed_rate": _rate(sum(a.get("extracted") is None for a in answers), len(answers)),
        "truncated_rate": _rate(sum(bool(a.get("truncated")) for a in answers), len(answers)),
        "mean_reasoning_tokens": _mean(reasoning),
        "mean_answer_tokens": _mean(answer_tokens),
        "tokens_estimated": any(bool(g.get("tokens_estimated")) for g in generated),
    }


def _throughput(answers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    sessions: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for answer in answers:
        if "t" in answer and "started" in answer:
            sessions[int(answer.get("session") or 0)].append(answer)
    wall = sum(max(a["t"] for a in group) - min(a["started"] for a in group) for group in sessions.values())
    count = sum(len(group) for group in sessions.values())
    requests = sum(int(a.get("requests") or 1) for group in sessions.values() for a in group)
    return {
        "wall_s": round(wall, 3),
        "questions_per_minute": round(count / wall * 60, 2) if wall > 0 else None,
        "requests_per_second": round(requests / wall, 3) if wall > 0 else None,
    }


def _pass_at_k(answers: Sequence[Mapping[str, Any]], ks: Sequence[int]) -> dict[str, float]:
    from deepfort.evals.passk import pass_at_k

    by_item: dict[str, list[bool]] = defaultdict(list)
    for answer in answers:
        by_item[str(answer["item"])].append(bool(answer.get("correct")))
    if not by_item:
        return {}
    fewest = min(len(v) for v in by_item.values())
    return {
        f"pass@{k}": round(sum(pass_at_k(len(v), sum(v), k) for v in by_item.values()) / len(by_item), 4)
        for k in sorted(set(ks))
        if 1 <= k <= fewest
    }


def build_report(
    run: RunData, keys: set[AnswerKey] | None = None, *, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, Any]:
    """The report of ``run`` as one JSON-ready object; ``keys`` limits it to one run's answers (what
    ``deepfort eval run`` asked or found), otherwise every answer of the file counts."""
    answers = [a for key, a in run.answers.items() if keys is None or key in keys]
    by_suite: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for answer in answers:
        by_suite[str(answer["suite"])].append(answer)
    suites: dict[str, Any] = {}
    for name, group in by_suite.items():
        info = run.suites.get(name, {})
        metric = str(info.get("metric") or "accuracy")
        entry: dict[str, Any] = {
            "mode": info.get("mode") or group[0].get("mode"),
            "metric": metric,
            **summarise(group),
            **_throughput(group),
        }
        if metric == "pass@1":
            entry["pass_at_k"] = _pass_at_k(group, ks)
        subjects: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for answer in group:
            subjects[str(answer.get("subject") or NO_SUBJECT)].append(answer)
        entry["subjects"] = (
            {s: summarise(subjects[s]) for s in sorted(subjects)} if set(subjects) != {NO_SUBJECT} else {}
        )
        suites[name] = entry
    return {
        "object": "eval.report",
        "run_file": str(run.path),
        "model": run.params.get("model"),
        "params": run.params,
        "sessions": len(run.sessions),
        "suites": suites,
    }


def _percent(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, float | int) else "-"


def _number(value: object, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, float | int) else "-"


def print_report(report: Mapping[str, Any], console: Console, *, subjects: bool = True) -> None:
    """The report as rich tables: one row per suite, then each suite's subjects."""
    params = report.get("params") or {}
    sampling = ", ".join(f"{k} {v}" for k, v in params.items() if k != "model" and v is not None)
    title = f"{report.get('model')}  ({sampling or 'server defaults'})"
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 0),
    )
    suites: Mapping[str, Any] = report["suites"]
    with_mode = any(suite["mode"] != "generate" for suite in suites.values())
    # One space of padding each side of the header rule's column breaks: 80 columns hold a report.
    table.add_column("suite", no_wrap=True, style="bold")
    if with_mode:
        table.add_column("mode", no_wrap=True)
    table.add_column("score", no_wrap=True)
    for column in ("n", "unparsed", "truncated", "think/answer\ntokens", "q/min", "req/s"):
        table.add_column(column, justify="right", no_wrap=True)
    estimated = False
    for name, suite in suites.items():
        estimated = estimated or bool(suite.get("tokens_estimated"))
        metric = "acc" if suite["metric"] == "accuracy" else suite["metric"]
        tokens = f"{_number(suite['mean_reasoning_tokens'])}/{_number(suite['mean_answer_tokens'])}"
        cells = [name, *([suite["mode"]] if with_mode else []), f"{_percent(suite['score'])} {metric}"]
        table.add_row(
            *cells,
            str(suite["n"]),
            _percent(suite["unparsed_rate"]),
            _percent(suite["truncated_rate"]),
            tokens if suite["mean_answer_tokens"] is not None else "-",
            _number(suite["questions_per_minute"], 1),
            _number(suite["requests_per_second"], 2),
        )
    console.print(table)
    if estimated:
        console.print(
            "[dim]token counts partly estimated from characters (the server gave no reasoning count)[/]"
        )
    for name, suite in report["suites"].items():
        pass_at_k = suite.get("pass_at_k") or {}
        if len(pass_at_k) > 1:
            console.print(f"{name}: " + ", ".join(f"{k} {v:.1%}" for k, v in pass_at_k.items()))
    if not subjects:
        return
    for name, suite in report["suites"].items():
        if not suite["subjects"]:
            continue
        detail = Table(title=f"{name} by subject", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
        for column in ("subject", "score", "n", "unparsed", "truncated"):
            detail.add_column(column, justify="left" if column == "subject" else "right")
        for subject, numbers in suite["subjects"].items():
            detail.add_row(
                subject,
                _percent(numbers["score"]),
                str(numbers["n"]),
                _percent(numbers["unparsed_rate"]),
                _percent(numbers["truncated_rate"]),
            )
        console.print(detail)

"""Two runs of the same questions side by side: did the change (a quantization, a LoRA, a new routing
threshold) move the score, by how much, and which questions flipped?

Each question's score is its share of correct samples (0 or 1 with one sample). The delta is the mean of
the per-question differences B - A over the questions both runs answered, and its confidence interval is
a **paired bootstrap** over questions: resample the questions with replacement, keep each question's pair
of scores together, take the mean difference, repeat (10,000 times by default, seeded, so the same runs
give the same interval); the interval is the resampled deltas' percentiles. Pairing matters: the same
question is easy or hard for both runs, and resampling the runs apart would widen the interval by that
shared difficulty. A question flipped when it crossed one half: right in A (score >= 0.5) and wrong in B
(< 0.5), or the other way; with one sample that is plainly right -> wrong and wrong -> right.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deepfort.evals.cache import RunData

__all__ = ["DEFAULT_CONFIDENCE", "DEFAULT_RESAMPLES", "compare_runs", "paired_bootstrap", "print_comparison"]

DEFAULT_RESAMPLES = 10_000
DEFAULT_CONFIDENCE = 0.95
_CELLS_PER_CHUNK = 4_000_000  # resamples x questions drawn at once: ~32 MB of indexes


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(delta, low, high)``: the mean of ``b - a`` and its bootstrap confidence interval.

    ``a[i]`` and ``b[i]`` are the two runs' scores on question ``i``. Vectorised over resamples, drawn
    in chunks so that a 14,000-question MMLU run does not need gigabytes of indexes.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be within (0, 1), got {confidence}")
    diffs = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    n = diffs.size
    if n == 0:
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)
    chunk = max(1, _CELLS_PER_CHUNK // n)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        means[start : start + size] = diffs[rng.integers(0, n, size=(size, n))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(diffs.mean()), float(low), float(high)


def _per_question(run: RunData, suite: str) -> dict[str, dict[str, Any]]:
    """Each question's score (share of correct samples), subject, target and first sample's answer."""
    questions: dict[str, dict[str, Any]] = {}
    for answer in run.of_suite(suite):
        entry = questions.setdefault(
            str(answer["item"]),
            {
                "subject": answer.get("subject") or "",
                "target": answer.get("target"),
                "extracted": answer.get("extracted"),
                "mode": answer.get("mode"),
                "right": 0,
                "total": 0,
            },
        )
        entry["right"] += bool(answer.get("correct"))
        entry["total"] += 1
    for entry in questions.values():
        entry["score"] = entry["right"] / entry["total"]
    return questions


def _natural(item: str) -> list[tuple[int, int | str]]:
    """``q2`` before ``q10``: numbers in an id compare as numbers."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", item) if part]


def _interval(
    pairs: Sequence[tuple[float, float]], resamples: int, confidence: float, seed: int
) -> dict[str, Any]:
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    delta, low, high = paired_bootstrap(a, b, resamples=resamples, confidence=confidence, seed=seed)
    return {
        "n": len(pairs),
        "score_a": round(sum(a) / len(a), 4) if a else None,
        "score_b": round(sum(b) / len(b), 4) if b else None,
        "delta": round(delta, 4),
        "ci_low": round(low, 4),
        "ci_high": round(high, 4),
        "significant": bool(low > 0 or high < 0),
    }


def compare_runs(
    a: RunData,
    b: RunData,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """The comparison of two run files as one JSON-ready object: per suite (present in both) the delta
    with its interval, per subject the same, and the questions that flipped."""
    names_a = {str(x["suite"]) for x in a.answers.values()}
    names_b = {str(x["suite"]) for x in b.answers.values()}
    suites: dict[str, Any] = {}
    for name in sorted(names_a & names_b):
        qa, qb = _per_question(a, name), _per_question(b, name)
        common = sorted((item for item in qa if item in qb), key=_natural)  # answers arrive in any order
        entry = _interval([(qa[i]["score"], qb[i]["score"]) for i in common], resamples, confidence, seed)
        entry["mode_a"] = next(iter(qa.values()))["mode"]
        entry["mode_b"] = next(iter(qb.values()))["mode"]
        entry["only_in_a"] = len(qa) - len(common)
        entry["only_in_b"] = len(qb) - len(common)
        worse: list[dict[str, Any]] = []
        better: list[dict[str, Any]] = []
        for item in common:
            was, now = qa[item]["score"] >= 0.5, qb[item]["score"] >= 0.5
            if was != now:
                flip = {
                    "item": item,
                    "subject": qa[item]["subject"],
                    "target": qa[item]["target"],
                    "a": qa[item]["extracted"],
                    "b": qb[item]["extracted"],
                    "a_right": qa[item]["right"],
                    "a_samples": qa[item]["total"],
                    "b_right": qb[item]["right"],
                    "b_samples": qb[item]["total"],
                }
                (worse if was else better).append(flip)
        entry["flipped"] = {"right_to_wrong": worse, "wrong_to_right": better}
        by_subject: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for item in common:
            by_subject[qa[item]["subject"]].append((qa[item]["score"], qb[item]["score"]))
        entry["subjects"] = (
            {s: _interval(by_subject[s], resamples, confidence, seed) for s in sorted(by_subject)}
            if set(by_subject) != {""}
            else {}
        )
        suites[name] = entry
    return {
        "object": "eval.comparison",
        "a": {"run_file": str(a.path), "model": a.params.get("model"), "params": a.params},
        "b": {"run_file": str(b.path), "model": b.params.get("model"), "params": b.params},
        "confidence": confidence,
        "resamples": resamples,
        "seed": seed,
        "only_in_a": sorted(names_a - names_b),
        "only_in_b": sorted(names_b - names_a),
        "suites": suites,
    }


def _signed(value: float) -> str:
    return f"{value * 100:+.1f}"


def print_comparison(comparison: Mapping[str, Any], console: Console, *, flips: int = 10) -> None:
    """The comparison as a rich table, then up to ``flips`` flipped questions of each kind per suite."""
    level = f"{comparison['confidence']:.0%}"
    a, b = comparison["a"], comparison["b"]
    title = f"A {a['run_file']} ({a['model']})  ->  B {b['run_file']} ({b['model']})"
    table = Table(title=escape(title), title_justify="left")
    for column in ("suite", "n", "A", "B", "delta (points)", f"{level} CI", "right->wrong", "wrong->right"):
        table.add_column(column, justify="left" if column == "suite" else "right")
    for name, suite in comparison["suites"].items():
        style = ("green" if suite["delta"] > 0 else "red") if suite["significant"] else ""
        table.add_row(
            name,
            str(suite["n"]),
            f"{suite['score_a']:.1%}" if suite["score_a"] is not None else "-",
            f"{suite['score_b']:.1%}" if suite["score_b"] is not None else "-",
            f"[{style}]{_signed(suite['delta'])}[/]" if style else _signed(suite["delta"]),
            f"[{_signed(suite['ci_low'])}, {_signed(suite['ci_high'])}]",
            str(len(suite["flipped"]["right_to_wrong"])),
            str(len(suite["flipped"]["wrong_to_right"])),
        )
    console.print(table)
    for side in ("only_in_a", "only_in_b"):
        if comparison[side]:
            console.print(f"[dim]suites only in {side[-1].upper()}: {', '.join(comparison[side])}[/]")
    for name, suite in comparison["suites"].items():
        for kind, label in (("right_to_wrong", "right -> wrong"), ("wrong_to_right", "wrong -> right")):
            flipped = suite["flipped"][kind]
            if not flipped:
                continue
            shown = ", ".join(escape(str(f["item"])) for f in flipped[:flips])
            more = f" and {len(flipped) - flips} more" if len(flipped) > flips else ""
            console.print(f"{name} {label}: {shown}{more}")

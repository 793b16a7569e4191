"""Measuring and fitting the complexity classifier on a labelled question set.

The set is JSONL, one question per line: ``{"id", "lang", "label": "simple"|"complex", "split":
"tune"|"holdout", "question", "history"}`` (``tests/data/routing/questions.jsonl``). Fitting reads only
the ``tune`` split; the ``holdout`` split is what accuracy is reported on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepfort.errors import ConfigError
from deepfort.routing.classifier import ComplexityClassifier, features


@dataclass(frozen=True)
class Item:
    id: str
    lang: str
    label: str
    split: str
    question: str
    history: int = 0

    @property
    def complex(self) -> bool:
        return self.label == "complex"


def load_items(path: Path, split: str | None = None) -> list[Item]:
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            item = Item(
                id=str(raw["id"]),
                lang=str(raw.get("lang", "")),
                label=str(raw["label"]),
                split=str(raw.get("split", "")),
                question=str(raw["question"]),
                history=int(raw.get("history", 0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{number}: not a labelled question ({exc})") from None
        if item.label not in ("simple", "complex"):
            raise ConfigError(f"{path}:{number}: label must be simple or complex, not {item.label!r}")
        if split is None or item.split == split:
            items.append(item)
    return items


@dataclass
class Report:
    total: int = 0
    correct: int = 0
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    kept_on_edge: int = 0
    by_lang: dict[str, list[int]] = field(default_factory=dict)
    errors: list[dict[str, object]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def precision(self) -> float:
        predicted = self.true_positive + self.false_positive
        return self.true_positive / predicted if predicted else 0.0

    @property
    def recall(self) -> float:
        actual = self.true_positive + self.false_negative
        return self.true_positive / actual if actual else 0.0

    @property
    def edge_share(self) -> float:
        return self.kept_on_edge / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "accuracy": round(self.accuracy, 4),
            "complex_precision": round(self.precision, 4),
            "complex_recall": round(self.recall, 4),
            "edge_share": round(self.edge_share, 4),
            "accuracy_by_lang": {lang: round(c / n, 4) for lang, (c, n) in sorted(self.by_lang.items()) if n},
            "errors": self.errors,
        }


def evaluate(items: Iterable[Item], classifier: ComplexityClassifier, threshold: float) -> Report:
    report = Report()
    for item in items:
        verdict = classifier.assess(item.question, item.history)
        predicted = verdict.score >= threshold
        report.total += 1
        ok = predicted == item.complex
        report.correct += ok
        report.true_positive += predicted and item.complex
        report.false_positive += predicted and not item.complex
        report.false_negative += (not predicted) and item.complex
        report.kept_on_edge += not predicted
        counts = report.by_lang.setdefault(item.lang, [0, 0])
        counts[0] += ok
        counts[1] += 1
        if not ok:
            report.errors.append(
                {
                    "id": item.id,
                    "label": item.label,
                    "score": round(verdict.score, 3),
                    "question": item.question,
                }
            )
    return report


def fit(items: list[Item], l2: float = 0.003, steps: int = 4000, rate: float = 0.5) -> dict[str, float]:
    """Logistic regression (batch gradient descent, L2) over the classifier's features."""
    if not items:
        raise ConfigError("no questions to fit on")
    names = sorted(features("").keys())
    x = np.array([[features(i.question, i.history)[n] for n in names] for i in items], dtype=np.float64)
    y = np.array([1.0 if i.complex else 0.0 for i in items])
    w = np.zeros(len(names))
    b = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        grad = p - y
        w -= rate * (x.T @ grad / len(y) + l2 * w)
        b -= rate * float(grad.mean())
    weights = {"bias": round(b, 3)}
    weights.update({n: round(float(v), 3) for n, v in zip(names, w, strict=True)})
    return weights


def best_threshold(items: list[Item], classifier: ComplexityClassifier) -> float:
    """The threshold (in steps of 0.05) with the best accuracy on ``items``; ties go to the middle."""
    scores = [classifier.assess(i.question, i.history).score for i in items]
    best, best_acc = 0.5, -1.0
    for step in range(5, 96, 5):
        t = step / 100
        acc = sum((s >= t) == i.complex for s, i in zip(scores, items, strict=True)) / len(items)
        if acc > best_acc + 1e-9 or (math.isclose(acc, best_acc) and abs(t - 0.5) < abs(best - 0.5)):
            best, best_acc = t, acc
    return best


def format_weights(weights: Mapping[str, float]) -> str:
    lines = ["WEIGHTS: dict[str, float] = {"]
    lines += [f'    "{name}": {value},' for name, value in weights.items()]
    lines.append("}")
    return "\n".join(lines)

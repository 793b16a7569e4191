"""``deepfort data stats``: what a dataset holds, before training on it.

Records and turns, the languages of the questions, length percentiles of questions, answers and reasoning
in characters and (given a tokenizer: a GGUF's, read with ``vocab_only``) in tokens, the share of answers
with reasoning, and the duplicates ``clean`` would still remove (exact and near).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from deepfort.training.dataset.dedup import DEFAULT_THRESHOLD, groups
from deepfort.training.dataset.language import languages
from deepfort.training.dataset.records import Record
from deepfort.training.dataset.text import exact_key, record_text

__all__ = ["PERCENTILES", "percentile", "stats"]

PERCENTILES = (50, 90, 99)


def percentile(values: Sequence[int], p: float) -> int:
    """The nearest-rank percentile (a value that occurs); 0 for no values."""
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _summary(values: Sequence[int]) -> dict[str, int]:
    summary = {f"p{p}": percentile(values, p) for p in PERCENTILES}
    summary["max"] = max(values, default=0)
    return summary


def stats(
    records: Sequence[Record],
    *,
    count_tokens: Callable[[str], int] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, Any]:
    parts: dict[str, list[str]] = {
        "question": [record.question for record in records],
        "answer": [record.answer.content for record in records],
        "reasoning": [
            record.answer.reasoning_content for record in records if record.answer.reasoning_content
        ],
    }
    found: Counter[str] = Counter()
    for question in parts["question"]:
        found["+".join(sorted(languages(question))) or "unknown"] += 1
    keys = [exact_key(record) for record in records]
    exact = len(keys) - len(set(keys))
    roots = groups([record_text(record) for record in records], threshold)
    near = sum(1 for index, root in enumerate(roots) if root != index)
    result: dict[str, Any] = {
        "records": len(records),
        "turns": sum(len(record.messages) for record in records),
        "multi_turn": sum(1 for record in records if sum(m.role == "user" for m in record.messages) > 1),
        "with_system": sum(1 for record in records if record.system is not None),
        "with_reasoning": len(parts["reasoning"]),
        "reasoning_share": round(len(parts["reasoning"]) / len(records), 4) if records else 0.0,
        "languages": dict(found.most_common()),
        "chars": {name: _summary([len(text) for text in texts]) for name, texts in parts.items()},
        "exact_duplicates": exact,
        "near_duplicates": near - exact,
    }
    if count_tokens is not None:
        result["tokens"] = {
            name: _summary([count_tokens(text) for text in texts]) for name, texts in parts.items()
        }
    return result

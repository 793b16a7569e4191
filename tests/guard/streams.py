"""Chunkings of a text, for feeding stream logic the way a model's deltas would arrive."""

from __future__ import annotations

import itertools

from hypothesis import strategies as st


def split(text: str, cuts: list[int]) -> list[str]:
    """``text`` cut at the given positions (taken modulo its length, repeats allowed: empty chunks)."""
    points = sorted(cut % (len(text) + 1) for cut in cuts)
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def every_split(text: str) -> list[list[str]]:
    """One cut at every position, and one character per chunk."""
    return [[text[:i], text[i:]] for i in range(len(text) + 1)] + [list(text)]


cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=12)

"""Near duplicates by MinHash LSH (datasketch), as datatrove's and text-dedup's MinHash steps do.

A record's shingles are the n-grams (default 3) of its tokens (:func:`~deepfort.training.dataset.text.tokens`:
characters for CJK, words otherwise), so one changed word touches n shingles of an English record and one
changed character n shingles of a Chinese one. Records are signed with ``num_perm`` hash permutations; the
LSH index proposes candidates whose estimated Jaccard similarity may reach the threshold, and a candidate
counts only when the estimate from the two signatures does. The index bands at 0.1 under the threshold,
so that few pairs at the threshold are missed.
Signing is deterministic (fixed seed), so the same file always gives the same groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from datasketch import MinHash, MinHashLSH  # type: ignore[import-untyped]

from deepfort.training.dataset.text import tokens

__all__ = [
    "DEFAULT_NGRAM",
    "DEFAULT_NUM_PERM",
    "DEFAULT_THRESHOLD",
    "Match",
    "NearDuplicates",
    "groups",
    "shingles",
]

DEFAULT_THRESHOLD = 0.8
DEFAULT_NUM_PERM = 128
DEFAULT_NGRAM = 3
_SEED = 1


def shingles(text: str, n: int = DEFAULT_NGRAM) -> set[bytes]:
    """The token n-grams of a text (the whole token list when it is shorter than n)."""
    found = tokens(text)
    if len(found) < n:
        return {" ".join(found).encode()} if found else set()
    return {" ".join(found[i : i + n]).encode() for i in range(len(found) - n + 1)}


@dataclass(frozen=True, slots=True)
class Match:
    key: int
    similarity: float


class NearDuplicates:
    """An LSH index of signed texts: :meth:`find` the closest one already added, :meth:`add` a new one."""

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        num_perm: int = DEFAULT_NUM_PERM,
        ngram: int = DEFAULT_NGRAM,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"a near-duplicate threshold is in (0, 1], got {threshold}")
        self.threshold = threshold
        self.num_perm = num_perm
        self.ngram = ngram
        # Banding at the threshold itself misses about a third of the pairs just above it (a pair at 0.83
        # shares a band with probability ~0.7 at 128 permutations), and datasketch cannot band near 1: the
        # index proposes candidates from 0.1 lower, and find() checks each against the threshold itself.
        self._lsh = MinHashLSH(threshold=max(0.5, min(threshold - 0.1, 0.9)), num_perm=num_perm)
        self._signatures: dict[int, MinHash] = {}
        # One set of permutations for every signature (making them is most of a MinHash's start-up cost).
        first = MinHash(num_perm=num_perm, seed=_SEED)
        self._permutations, self._scheme = first.permutations, first.scheme

    def sign(self, text: str) -> MinHash:
        signature = MinHash(
            num_perm=self.num_perm, seed=_SEED, permutations=self._permutations, scheme=self._scheme
        )
        found = shingles(text, self.ngram)
        if found:
            signature.update_batch(sorted(found))
        return signature

    def find(self, signature: MinHash) -> Match | None:
        """The most similar text added so far at or above the threshold (the earliest on a tie)."""
        best: Match | None = None
        for key in self.candidates(signature):
            similarity = self.similarity(key, signature)
            if similarity >= self.threshold and (best is None or similarity > best.similarity):
                best = Match(key, similarity)
        return best

    def candidates(self, signature: MinHash) -> list[int]:
        """Keys the LSH index proposes, ascending; not yet checked against the threshold."""
        return sorted(self._lsh.query(signature))

    def similarity(self, key: int, signature: MinHash) -> float:
        return float(signature.jaccard(self._signatures[key]))

    def add(self, key: int, signature: MinHash) -> None:
        self._lsh.insert(key, signature)
        self._signatures[key] = signature


def groups(texts: Sequence[str], threshold: float = DEFAULT_THRESHOLD) -> list[int]:
    """For each text, the index of the first text of its near-duplicate group (union-find over LSH
    matches), so that a split can keep a group on one side."""
    index = NearDuplicates(threshold)
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    signatures = [index.sign(text) for text in texts]
    for i, signature in enumerate(signatures):
        for key in index.candidates(signature):
            if index.similarity(key, signature) >= threshold:
                a, b = root(i), root(key)
                parent[max(a, b)] = min(a, b)
        index.add(i, signature)
    return [root(i) for i in range(len(texts))]

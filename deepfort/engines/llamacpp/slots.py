"""Slots in one unified llama.cpp KV cache: who holds which cells, and prefix reuse between sequences.

Each slot is a llama.cpp sequence id. A running sequence owns its slot's cells. When it finishes, the
slot keeps its cells as a prompt cache (as llama-server's slots do): a later request whose prompt starts
the same way takes that slot and only computes the rest. A request can also start from a prefix of a
*running* sequence: ``llama_memory_seq_cp`` shares those cells instead of recomputing them.

Cell accounting is our own count (llama.cpp exposes no public used-cells figure): cells shared through
``seq_cp`` are counted once per sequence, which over-counts and so errs towards admitting less, never
towards overfilling. A failed decode (no free cells) is the backstop: the scheduler preempts and retries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

import llama_cpp as lc

from deepfort.engines.llamacpp.sequence import Seq


def common_prefix(a: list[int], b: list[int], limit: int) -> int:
    """Length of the shared start of ``a`` and ``b``, counting at most ``limit`` tokens."""
    n = min(len(a), len(b), limit)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass
class Slot:
    index: int
    seq: Seq | None = None
    cached: list[int] = field(default_factory=list)
    """Tokens whose cells a finished sequence left behind (empty while running or cleared)."""
    last_used: int = 0


@dataclass(frozen=True)
class Reuse:
    """Where a new sequence starts: ``target`` is its slot; its first ``tokens`` tokens are already in
    the cache, in ``target`` itself (a finished sequence's cache) or in ``source`` (a running one)."""

    target: Slot
    tokens: int = 0
    source: Slot | None = None


class SlotTable:
    def __init__(self, memory: lc.llama_memory_t, n_slots: int, total_cells: int) -> None:
        self.memory = memory
        self.total_cells = total_cells
        self.slots = [Slot(i) for i in range(n_slots)]
        self._clock = count(1)

    # -- accounting -----------------------------------------------------------------------------------
    @property
    def used_cells(self) -> int:
        """Cells held by running sequences."""
        return sum(s.seq.n_past for s in self.slots if s.seq is not None)

    @property
    def cached_cells(self) -> int:
        """Cells kept as prompt cache by finished sequences (reclaimable at any time)."""
        return sum(len(s.cached) for s in self.slots if s.seq is None)

    @property
    def free_cells(self) -> int:
        """Cells available without touching a running sequence (the cache is reclaimable)."""
        return self.total_cells - self.used_cells

    def has_free_slot(self) -> bool:
        return any(s.seq is None for s in self.slots)

    def evict_cache(self, need: int, *, protect: tuple[Slot | None, ...] = ()) -> None:
        """Drop cached prefixes, least recently used first, until ``need`` cells are unoccupied; never the
        ``protect``ed slots (the cache a new sequence is about to start from)."""
        victims = sorted(
            (s for s in self.slots if s.seq is None and s.cached and s not in protect),
            key=lambda s: s.last_used,
        )
        for slot in victims:
            if self.total_cells - self.used_cells - self.cached_cells >= need:
                return
            self._clear(slot)

    # -- acquire / release ----------------------------------------------------------------------------
    def plan(self, seq: Seq, *, reuse: bool) -> Reuse:
        """The slot ``seq`` would take and how many of its tokens it would find cached (at most all but
        one: the last token must be computed to get logits). Needs a free slot."""
        best = Reuse(self._spare_slot())
        if not reuse:
            return best
        limit = len(seq.tokens) - 1
        for slot in self.slots:
            if slot.seq is None:
                n = common_prefix(slot.cached, seq.tokens, limit)
                if n > best.tokens:
                    best = Reuse(slot, n)
            else:
                n = common_prefix(slot.seq.tokens, seq.tokens, min(limit, slot.seq.n_past))
                if n > best.tokens:
                    best = Reuse(self._spare_slot(), n, slot)
        return best

    def acquire(self, seq: Seq, reuse: Reuse, *, need: int) -> None:
        """Give ``seq`` the slot ``reuse`` names, starting from its cached prefix, and make ``need``
        cells unoccupied by dropping other caches."""
        target, n_common, source = reuse.target, reuse.tokens, reuse.source
        self.evict_cache(need, protect=(target, source) if n_common else ())
        if source is not None:
            # Start from a running sequence's prefix: share its cells.
            self._clear(target)
            lc.llama_memory_seq_cp(self.memory, source.index, target.index, 0, n_common)
        elif n_common > 0 and not lc.llama_memory_seq_rm(self.memory, target.index, n_common, -1):
            n_common = 0
        if n_common == 0:
            self._clear(target)
        target.cached = []
        target.seq = seq
        target.last_used = next(self._clock)
        seq.slot = target.index
        seq.n_past = n_common
        seq.reused = n_common

    def release(self, seq: Seq, *, keep_cache: bool) -> None:
        slot = self.slots[seq.slot]
        slot.seq = None
        slot.last_used = next(self._clock)
        if keep_cache and seq.n_past > 0:
            slot.cached = seq.tokens[: seq.n_past]
        else:
            self._clear(slot)
        seq.slot = -1
        seq.n_past = 0

    def _clear(self, slot: Slot) -> None:
        lc.llama_memory_seq_rm(self.memory, slot.index, -1, -1)
        slot.cached = []

    def _spare_slot(self) -> Slot:
        free = [s for s in self.slots if s.seq is None]
        # An empty slot first, else the least recently used cache.
        return min(free, key=lambda s: (bool(s.cached), s.last_used))

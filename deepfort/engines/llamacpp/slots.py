"""Slots in a llama.cpp KV cache: who holds which cells, and prefix reuse between sequences.

Each slot is a llama.cpp sequence id, with its own KV stream (the default, as llama-server's slots) or
in one pool shared by all slots (``kv_unified``). A running sequence owns its slot's cells. When it
finishes, the slot keeps its cells as a prompt cache (as llama-server's slots do): a later request whose
prompt starts the same way takes that slot and only computes the rest. A request can also start from a
prefix of a *running* sequence: in a pool ``llama_memory_seq_cp`` shares those cells, across streams
their state is copied (:func:`~deepfort.engines.llamacpp.promptcache.copy_prefix`), instead of
recomputing them.

A cache about to be dropped (its slot taken by another prompt, or evicted for cells) is first kept in
host memory by :class:`~deepfort.engines.llamacpp.promptcache.HostPromptCache`, and copied back into a
slot when a later prompt shares a longer prefix with it than with any slot.

Cell accounting is our own count (llama.cpp exposes no public used-cells figure): cells shared through
``seq_cp`` are counted once per sequence, which over-counts and so errs towards admitting less, never
towards overfilling. A failed decode (no free cells) is the backstop: the scheduler preempts and retries.
The decisions (which slot, how much prefix, which caches to drop) are :mod:`planner`'s; this table
applies them to llama.cpp's memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

import llama_cpp as lc

from deepfort.engines.llamacpp import planner
from deepfort.engines.llamacpp.planner import AdapterSet, Reuse
from deepfort.engines.llamacpp.promptcache import MIN_TOKENS, HostPromptCache, copy_prefix
from deepfort.engines.llamacpp.sequence import Seq


@dataclass
class Slot:
    index: int
    seq: Seq | None = None
    cached: list[int] = field(default_factory=list)
    """Tokens whose cells a finished sequence left behind (empty while running or cleared)."""
    cached_adapters: AdapterSet = ()
    """The LoRA adapters those cells were computed with: only a sequence with the same reuses them."""
    last_used: int = 0


class SlotTable:
    def __init__(
        self,
        ctx: lc.llama_context_p,
        n_slots: int,
        total_cells: int,
        *,
        host: HostPromptCache | None = None,
        unified: bool = True,
    ) -> None:
        self.ctx = ctx
        self.memory = lc.llama_get_memory(ctx)
        self.total_cells = total_cells
        self.host = host
        self.unified = unified
        """The slots share one pool of ``total_cells``; else each has its own KV stream."""
        self.slots = [Slot(i) for i in range(n_slots)]
        self._clock = count(1)

    # -- accounting -----------------------------------------------------------------------------------
    @property
    def used_cells(self) -> int:
        """Cells held by running sequences."""
        return planner.used_cells(self.slots)

    @property
    def cached_cells(self) -> int:
        """Cells kept as prompt cache by finished sequences (reclaimable at any time)."""
        return planner.cached_cells(self.slots)

    @property
    def free_cells(self) -> int:
        """Cells available without touching a running sequence (the cache is reclaimable)."""
        return planner.free_cells(self.slots, self.total_cells)

    def has_free_slot(self) -> bool:
        return any(s.seq is None for s in self.slots)

    def evict_cache(self, need: int, *, protect: tuple[int, ...] = ()) -> None:
        """Drop cached prefixes, least recently used first, until ``need`` cells are unoccupied; never the
        ``protect``ed slots (the cache a new sequence is about to start from). With a stream per slot a
        slot's cells are its own and nothing is dropped for another's."""
        if not self.unified:
            return
        for index in planner.plan_eviction(self.slots, self.total_cells, need, protect=protect):
            self._drop_cache(self.slots[index])

    # -- acquire / release ----------------------------------------------------------------------------
    def admit(self, seq: Seq) -> planner.Admission | None:
        """Whether ``seq`` can start now, where, and from how much cached prefix."""
        return planner.admit(
            seq.tokens,
            seq.cells_needed,
            self.slots,
            self.total_cells,
            reuse=seq.reuses_prefix,
            packed=not self.unified,
            adapters=seq.adapters,
        )

    def acquire(self, seq: Seq, reuse: Reuse, *, need: int) -> None:
        """Give ``seq`` the slot ``reuse`` names, starting from its cached prefix, and make ``need``
        cells unoccupied by dropping other caches."""
        target, n_common, source = self.slots[reuse.target], reuse.tokens, reuse.source
        protect = tuple(i for i in (reuse.target, source) if i is not None) if n_common else ()
        self.evict_cache(need, protect=protect)
        if self._restore(seq, target, n_common):
            return
        if source is not None:
            # Start from a running sequence's prefix: share its cells, or copy them into this stream.
            self._drop_cache(target)
            if self.unified:
                lc.llama_memory_seq_cp(self.memory, source, target.index, 0, n_common)
            elif not copy_prefix(self.ctx, source, target.index, n_common):
                n_common = 0
        elif n_common > 0:
            if self.host is not None and len(target.cached) > n_common + MIN_TOKENS:
                # before the part not shared is cut off
                self.host.keep(target.index, target.cached, target.cached_adapters)
            if not lc.llama_memory_seq_rm(self.memory, target.index, n_common, -1):
                n_common = 0
        if n_common == 0:
            self._drop_cache(target)
        self._start(seq, target, n_common)

    def _start(self, seq: Seq, target: Slot, n_common: int) -> None:
        target.cached = []
        target.seq = seq
        target.last_used = next(self._clock)
        seq.slot = target.index
        seq.n_past = n_common
        seq.reused = n_common

    def _restore(self, seq: Seq, target: Slot, n_common: int) -> bool:
        """Start ``seq`` in ``target`` from a host-kept cache when that shares a longer prefix."""
        if self.host is None or not seq.reuses_prefix or not len(self.host):
            return False
        kept, n_kept = self.host.best(seq.tokens, len(seq.tokens) - 1, seq.adapters)
        if kept is None or n_kept <= n_common:
            return False
        self._drop_cache(target)
        if not self.host.restore(kept, target.index, n_kept):
            n_kept = 0
        self._start(seq, target, n_kept)
        return True

    def release(self, seq: Seq, *, keep_cache: bool) -> None:
        slot = self.slots[seq.slot]
        slot.seq = None
        slot.last_used = next(self._clock)
        if keep_cache and seq.n_past > 0:
            slot.cached = seq.tokens[: seq.n_past]
            slot.cached_adapters = seq.adapters
        else:
            self._clear(slot)
        seq.slot = -1
        seq.n_past = 0

    def _drop_cache(self, slot: Slot) -> None:
        """Drop a slot's cache, keeping it in host memory first."""
        if slot.cached and self.host is not None:
            self.host.keep(slot.index, slot.cached, slot.cached_adapters)
        self._clear(slot)

    def _clear(self, slot: Slot) -> None:
        lc.llama_memory_seq_rm(self.memory, slot.index, -1, -1)
        slot.cached = []
        slot.cached_adapters = ()

"""Prompt caches kept in host memory once their slot is needed for another prompt.

A slot keeps the cells of the sequence it last ran (:mod:`slots`), so a request whose prompt starts the
same way computes only the rest. With more distinct prompts in flight than slots, the next request for a
prompt often finds that its slot has meanwhile been given to another one. Before a slot's cache is
dropped, its KV state is copied here (``llama_state_seq_get_data``: the cells of one sequence, about
23 KB a token for the embedded model); a later request whose prompt shares a longer prefix with a kept
state than with any slot has it copied back into its slot (``llama_state_seq_set_data``) and cut to the
shared prefix. This is what llama-server's ``--cache-ram`` does; a copy of a few MB takes well under a
millisecond, recomputing the same tokens several milliseconds each on a CPU.

The states are kept least recently used first out, within a byte budget; a state whose tokens extend
another's replaces it. A state is kept with the LoRA adapters it was computed under and restored only
for a prompt running with the same.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import llama_cpp as lc

from deepfort.engines.llamacpp import planner
from deepfort.engines.llamacpp.planner import AdapterSet

MIN_TOKENS = 16
"""Shorter caches are not kept: recomputing them costs about as much as the copy back."""


State = ctypes.Array[ctypes.c_uint8]
"""One sequence's KV state as llama.cpp writes it."""


@dataclass(slots=True)
class Kept:
    tokens: tuple[int, ...]
    state: State
    adapters: AdapterSet = ()


Key = tuple[AdapterSet, tuple[int, ...]]


class HostPromptCache:
    def __init__(self, ctx: lc.llama_context_p, budget_bytes: int) -> None:
        self.ctx = ctx
        self.budget = budget_bytes
        self._kept: OrderedDict[Key, Kept] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, seq_id: int, tokens: Sequence[int], adapters: AdapterSet = ()) -> None:
        """Copy sequence ``seq_id``'s cells (holding ``tokens``, computed with ``adapters``) before they
        are dropped."""
        held = tuple(tokens)
        key = (adapters, held)
        if self.budget <= 0 or len(held) < MIN_TOKENS:
            return
        if key in self._kept:
            self._kept.move_to_end(key)
            return
        same = [k for a, k in self._kept if a == adapters]
        if any(k[: len(held)] == held for k in same if len(k) > len(held)):
            return  # a longer state already holds these tokens
        state = read_state(self.ctx, seq_id, limit=self.budget)
        if state is None:
            return
        for shorter in [k for k in same if len(k) < len(held) and held[: len(k)] == k]:
            self._forget((adapters, shorter))
        self._kept[key] = Kept(held, state, adapters)
        self.bytes += len(state)
        while self.bytes > self.budget and self._kept:
            self._forget(next(iter(self._kept)))

    def best(self, tokens: Sequence[int], limit: int, adapters: AdapterSet = ()) -> tuple[Kept | None, int]:
        """The kept state of ``adapters`` sharing the longest prefix with ``tokens`` (at most ``limit``
        tokens)."""
        found: Kept | None = None
        length = 0
        for kept in self._kept.values():
            if kept.adapters != adapters:
                continue
            n = planner.common_prefix(kept.tokens, tokens, limit)
            if n > length:
                found, length = kept, n
        return found, length

    def restore(self, kept: Kept, seq_id: int, n_tokens: int) -> bool:
        """Copy ``kept`` into the (empty) sequence ``seq_id`` and cut it to its first ``n_tokens``. ``kept``
        may have left the cache since :meth:`best` found it (keeping the slot's own cache first can push
        it out of the budget): its state is still whole, and it is not put back."""
        if not write_state(self.ctx, kept.state, seq_id, n_tokens):
            return False
        key = (kept.adapters, kept.tokens)
        if key in self._kept:
            self._kept.move_to_end(key)
        return True

    def _forget(self, key: Key) -> None:
        kept = self._kept.pop(key)
        self.bytes -= len(kept.state)


def read_state(ctx: lc.llama_context_p, seq_id: int, *, limit: int | None = None) -> State | None:
    """Sequence ``seq_id``'s KV state (``llama_state_seq_get_data``), or None when there is none or it
    is larger than ``limit`` bytes."""
    size = lc.llama_state_seq_get_size(ctx, seq_id)
    if size <= 0 or (limit is not None and size > limit):
        return None
    state: State = (ctypes.c_uint8 * size)()
    if lc.llama_state_seq_get_data(ctx, state, size, seq_id) != size:
        return None
    return state


def write_state(ctx: lc.llama_context_p, state: State, seq_id: int, n_tokens: int) -> bool:
    """Copy ``state`` into the (empty) sequence ``seq_id`` and cut it to its first ``n_tokens``; on a
    failure the sequence is left empty."""
    memory = lc.llama_get_memory(ctx)
    size = len(state)
    if lc.llama_state_seq_set_data(ctx, state, size, seq_id) == size and lc.llama_memory_seq_rm(
        memory, seq_id, n_tokens, -1
    ):
        return True
    lc.llama_memory_seq_rm(memory, seq_id, -1, -1)
    return False


def copy_prefix(ctx: lc.llama_context_p, source: int, target: int, n_tokens: int) -> bool:
    """Copy the first ``n_tokens`` cells of sequence ``source`` into the empty sequence ``target`` (another
    KV stream: ``llama_memory_seq_cp`` across streams copies whole streams only) through its state."""
    state = read_state(ctx, source)
    return state is not None and write_state(ctx, state, target, n_tokens)

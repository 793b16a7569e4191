"""The scheduler's decisions as pure functions: plain data in, a decision out, no llama.cpp calls.

:mod:`~deepfort.engines.llamacpp.scheduler` and :mod:`~deepfort.engines.llamacpp.slots` own the state
and make the llama.cpp calls; they ask this module what to do:

- :func:`admit`: whether the head of the queue starts now, in which slot, from how much cached prefix;
- :func:`plan_reuse`: that slot and prefix (a finished sequence's cache, or a running sequence's cells);
- :func:`plan_step`: which adapter set the next step runs (:func:`next_adapters`: one set a step, in
  turn), which pending tokens go into the batch (a prompt being scored alone, in fixed chunks), and
  which running sequences are preempted (newest first) so that the batch fits in the free cells;
- :func:`plan_eviction`: which prompt caches are dropped, least recently used first, to free cells.

Cells are counted as :mod:`slots` explains: a running sequence occupies its ``n_past`` cells, a cache
its tokens, and the cache counts as free because it can be dropped at any time. Admission is not a
reservation: a sequence is admitted when its remaining need fits now, and preemption settles it later if
the running sequences grow past the cache.

LoRA adapters apply to a whole llama.cpp context, not to one sequence, so a step computes the sequences
of one adapter set (:data:`AdapterSet`; the base model is the empty set) and the sets take turns, step by
step, as llama-server batches only slots whose adapters are equal. KV cells computed under one set are
reused only by sequences of the same set.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

AdapterSet = tuple[tuple[int, float], ...]
"""The LoRA adapters a sequence runs with: (adapter id, scale) pairs sorted by id; ``()`` is the base
model. Ids are never reused, so cells computed under an adapter that was since removed match nothing."""


class SeqState(Protocol):
    """What the planner reads of a sequence (``Seq`` in the scheduler, plain data in tests)."""

    @property
    def tokens(self) -> Sequence[int]:
        """The prompt and every token generated so far."""

    @property
    def n_past(self) -> int:
        """How many of ``tokens`` are in the KV cache."""

    @property
    def order(self) -> int:
        """Admission order: the newest running sequence has the highest."""

    @property
    def scoring(self) -> bool:
        """Its prompt's log-probabilities are still being computed (see :func:`plan_batch`)."""

    @property
    def adapters(self) -> AdapterSet:
        """The LoRA adapters it runs with."""


class SlotState(Protocol):
    """What the planner reads of a slot: a running sequence, or the cache a finished one left."""

    @property
    def index(self) -> int: ...

    @property
    def seq(self) -> SeqState | None: ...

    @property
    def cached(self) -> Sequence[int]: ...

    @property
    def cached_adapters(self) -> AdapterSet:
        """The adapters ``cached`` was computed with."""

    @property
    def last_used(self) -> int: ...


S = TypeVar("S", bound=SeqState)


def common_prefix(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    """Length of the shared start of ``a`` and ``b``, counting at most ``limit`` tokens."""
    n = min(len(a), len(b), limit)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def used_cells(slots: Sequence[SlotState]) -> int:
    """Cells held by running sequences."""
    return sum(s.seq.n_past for s in slots if s.seq is not None)


def cached_cells(slots: Sequence[SlotState]) -> int:
    """Cells kept as prompt cache by finished sequences (reclaimable at any time)."""
    return sum(len(s.cached) for s in slots if s.seq is None)


def free_cells(slots: Sequence[SlotState], total_cells: int) -> int:
    """Cells available without touching a running sequence (the cache is reclaimable)."""
    return total_cells - used_cells(slots)


@dataclass(frozen=True, slots=True)
class Reuse:
    """Where a new sequence starts: slot ``target``; its first ``tokens`` tokens are already in the cache,
    in ``target`` itself (a finished sequence's cache) or in slot ``source`` (a running sequence)."""

    target: int
    tokens: int = 0
    source: int | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """Start the sequence as ``reuse`` says; ``need`` more cells must be unoccupied for it."""

    reuse: Reuse
    need: int


def spare_slot(slots: Sequence[SlotState], *, packed: bool = False) -> int:
    """The free slot a sequence without a usable prefix takes: an empty one, else the least recently
    used cache; ``packed``: the lowest free one, so that running slots stay consecutive (with a KV
    stream per slot llama.cpp computes a run of consecutive slots at once and splits the batch at every
    gap). Needs a free slot."""
    free = [s for s in slots if s.seq is None]
    if packed:
        return free[0].index
    return min(free, key=lambda s: (bool(s.cached), s.last_used)).index


def plan_reuse(
    tokens: Sequence[int],
    slots: Sequence[SlotState],
    *,
    reuse: bool,
    packed: bool = False,
    adapters: AdapterSet = (),
) -> Reuse:
    """The slot a sequence of ``tokens`` takes and how many of them it finds cached: the longest prefix
    shared with a cache or with a running sequence's computed cells of the same ``adapters``, and at
    most all but one token (the last must be computed to get logits). Needs a free slot."""
    best = Reuse(spare_slot(slots, packed=packed))
    if not reuse:
        return best
    limit = len(tokens) - 1
    for slot in slots:
        if slot.seq is None:
            if slot.cached_adapters != adapters:
                continue
            n = common_prefix(slot.cached, tokens, limit)
            if n > best.tokens:
                best = Reuse(slot.index, n)
        elif slot.seq.adapters == adapters:
            n = common_prefix(slot.seq.tokens, tokens, min(limit, slot.seq.n_past))
            if n > best.tokens:
                best = Reuse(spare_slot(slots, packed=packed), n, slot.index)
    return best


def admit(
    tokens: Sequence[int],
    cells_needed: int,
    slots: Sequence[SlotState],
    total_cells: int,
    *,
    reuse: bool,
    packed: bool = False,
    adapters: AdapterSet = (),
) -> Admission | None:
    """Admit the head of the queue now, or None: it waits (first in, first served, so everything behind
    it waits too). It needs a free slot, and its ``cells_needed`` less the reused prefix in free cells."""
    if all(s.seq is not None for s in slots):
        return None
    plan = plan_reuse(tokens, slots, reuse=reuse, packed=packed, adapters=adapters)
    need = cells_needed - plan.tokens
    if need > free_cells(slots, total_cells):
        return None
    return Admission(plan, need)


def plan_batch(
    running: Sequence[S], n_batch: int, prefill_chunk: int, *, scoring_turn: bool = True
) -> list[tuple[S, int]]:
    """How many pending tokens of each running sequence go into the next batch: one for every decoding
    sequence, then prompt chunks in admission order within the budget (``prefill_chunk`` while others
    decode, so a long prompt never stalls their streams).

    A prompt being scored (its logprobs asked for) is computed alone, in chunks of ``n_batch`` from its
    start, as llama.cpp computes a lone sequence: its logprobs then do not depend on what else runs (a
    chunk shared with other sequences is cut into other ubatches, and on a small model that alone moves
    a logprob by tenths of a nat). Such a step takes every other turn while other sequences have work
    (``scoring_turn``), the oldest scored prompt first, so neither kind starves the other."""
    scored = [s for s in running if s.scoring]
    others = [s for s in running if not s.scoring]
    if scored and (scoring_turn or not others):
        seq = min(scored, key=lambda s: s.order)
        return [(seq, min(len(seq.tokens) - seq.n_past, n_batch - seq.n_past % n_batch))]
    decoding = [s for s in others if len(s.tokens) - s.n_past == 1]
    prefilling = sorted((s for s in others if len(s.tokens) - s.n_past > 1), key=lambda s: s.order)
    budget = n_batch - len(decoding)
    if decoding:
        budget = min(budget, prefill_chunk)
    plan = [(s, 1) for s in decoding]
    for seq in prefilling:
        if budget <= 0:
            break
        take = min(len(seq.tokens) - seq.n_past, budget)
        plan.append((seq, take))
        budget -= take
    return plan


@dataclass(frozen=True, slots=True)
class Step(Generic[S]):
    """The next decode: preempt ``preempt`` (newest first), then compute ``batch`` (``cells`` tokens)
    with ``adapters`` applied."""

    batch: list[tuple[S, int]]
    preempt: list[S]
    cells: int
    adapters: AdapterSet = ()


def next_adapters(running: Sequence[SeqState], last: AdapterSet | None) -> AdapterSet:
    """The adapter set the next step computes: the one after ``last`` (the previous step's) in a fixed
    order among the sets of the running sequences, so that every set gets a step in turn and none
    waits for another's sequences to finish; ``()`` (the base model) when nothing runs."""
    sets = sorted({s.adapters for s in running})
    if not sets:
        return ()
    if last is None:
        return sets[0]
    return next((a for a in sets if a > last), sets[0])


def newest(running: Sequence[S]) -> S:
    """The sequence to preempt first: the last admitted."""
    return max(running, key=lambda s: s.order)


def plan_step(
    running: Sequence[S],
    free: int,
    n_batch: int,
    prefill_chunk: int,
    *,
    scoring_turn: bool = True,
    last_adapters: AdapterSet | None = None,
) -> Step[S]:
    """The next batch: the sequences of the adapter set whose turn it is (:func:`next_adapters` after
    ``last_adapters``), after preempting the newest sequences until it fits in ``free`` cells (each
    preempted sequence gives its ``n_past`` cells back). One sequence is never preempted: alone, it
    runs, and a failed decode is the backstop."""
    kept = list(running)
    preempt: list[S] = []
    while True:
        adapters = next_adapters(kept, last_adapters)
        group = [s for s in kept if s.adapters == adapters]
        batch = plan_batch(group, n_batch, prefill_chunk, scoring_turn=scoring_turn)
        cells = sum(n for _, n in batch)
        if cells <= free or len(kept) <= 1:
            return Step(batch, preempt, cells, adapters)
        victim = newest(kept)
        kept.remove(victim)
        preempt.append(victim)
        free += victim.n_past


def plan_eviction(
    slots: Sequence[SlotState], total_cells: int, need: int, *, protect: Collection[int] = ()
) -> list[int]:
    """The slots whose caches to drop, least recently used first, until ``need`` cells are unoccupied;
    never the ``protect``ed slots (the cache a new sequence is about to start from)."""
    victims = sorted(
        (s for s in slots if s.seq is None and s.cached and s.index not in protect),
        key=lambda s: s.last_used,
    )
    unoccupied = total_cells - used_cells(slots) - cached_cells(slots)
    dropped: list[int] = []
    for slot in victims:
        if unoccupied >= need:
            break
        dropped.append(slot.index)
        unoccupied += len(slot.cached)
    return dropped

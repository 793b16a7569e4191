"""The llama.cpp scheduler's planner, on plain data: admission, prefix reuse, batching and preemption.

Token ids come from a three-letter alphabet so that prompts share prefixes often. The last property drives
a model of the scheduler loop (admit, plan a step, preempt, decode, finish) with the planner's decisions
and checks that the KV cache never overfills and every request finishes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from deepfort.engines.llamacpp import planner

TOKENS = st.lists(st.integers(0, 2), min_size=1, max_size=12)


@dataclass(eq=False)
class FakeSeq:
    tokens: list[int]
    n_past: int = 0
    order: int = 0
    prompt: int = 0
    max_tokens: int = 0
    scoring: bool = False
    adapters: planner.AdapterSet = ()

    @property
    def cells_needed(self) -> int:
        return self.prompt + self.max_tokens


@dataclass
class FakeSlot:
    index: int
    seq: FakeSeq | None = None
    cached: list[int] = field(default_factory=list)
    last_used: int = 0
    cached_adapters: planner.AdapterSet = ()


@st.composite
def running_seqs(draw: st.DrawFn, max_size: int = 5) -> list[FakeSeq]:
    """Running sequences in distinct admission order, each with at least one token not yet computed."""
    tokens = draw(st.lists(TOKENS, max_size=max_size))
    orders = draw(st.permutations(range(1, len(tokens) + 1)))
    return [
        FakeSeq(t, n_past=draw(st.integers(0, len(t) - 1)), order=o)
        for t, o in zip(tokens, orders, strict=True)
    ]


@st.composite
def slot_tables(draw: st.DrawFn) -> tuple[list[FakeSlot], int]:
    """Slots, each running a sequence or holding a cache (maybe empty), and a total of cells that holds
    them all."""
    n = draw(st.integers(1, 5))
    running = iter(draw(running_seqs(max_size=n)))
    slots = []
    for index, last_used in enumerate(draw(st.permutations(range(n)))):
        seq = next(running, None) if draw(st.booleans()) else None
        cached = [] if seq is not None else draw(st.lists(st.integers(0, 2), max_size=12))
        slots.append(FakeSlot(index, seq, cached, last_used))
    total = planner.used_cells(slots) + planner.cached_cells(slots) + draw(st.integers(0, 24))
    return slots, total


def shared(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


# -- admission --------------------------------------------------------------------------------------------
@given(slot_tables(), TOKENS, st.integers(0, 12), st.booleans())
def test_admission_never_goes_past_the_free_slots_or_cells(
    table: tuple[list[FakeSlot], int], tokens: list[int], max_tokens: int, reuse: bool
) -> None:
    slots, total = table
    needed = len(tokens) + max_tokens
    admitted = planner.admit(tokens, needed, slots, total, reuse=reuse)
    if admitted is None:
        return
    assert slots[admitted.reuse.target].seq is None
    assert admitted.need == needed - admitted.reuse.tokens
    assert planner.used_cells(slots) + admitted.need <= total


@given(slot_tables(), TOKENS, st.integers(0, 12))
def test_admission_waits_only_for_a_slot_or_cells(
    table: tuple[list[FakeSlot], int], tokens: list[int], max_tokens: int
) -> None:
    slots, total = table
    needed = len(tokens) + max_tokens
    free_slot = any(s.seq is None for s in slots)
    fits = needed <= planner.free_cells(slots, total)  # even with nothing reused
    if free_slot and fits:
        assert planner.admit(tokens, needed, slots, total, reuse=True) is not None


# -- prefix reuse -----------------------------------------------------------------------------------------
@given(slot_tables(), TOKENS)
def test_reuse_never_claims_more_than_the_shared_prefix(
    table: tuple[list[FakeSlot], int], tokens: list[int]
) -> None:
    slots, _ = table
    if all(s.seq is not None for s in slots):
        return
    reuse = planner.plan_reuse(tokens, slots, reuse=True)
    target = slots[reuse.target]
    assert target.seq is None
    assert 0 <= reuse.tokens <= len(tokens) - 1  # the last token is always computed, for its logits
    if reuse.source is None:
        assert reuse.tokens <= shared(target.cached, tokens)
    else:
        source = slots[reuse.source].seq
        assert source is not None
        assert reuse.tokens <= shared(source.tokens[: source.n_past], tokens)  # only computed cells
    # ... and it takes the longest such prefix there is.
    best = 0
    for slot in slots:
        known = slot.cached if slot.seq is None else slot.seq.tokens[: slot.seq.n_past]
        best = max(best, min(shared(known, tokens), len(tokens) - 1))
    assert reuse.tokens == best


@given(slot_tables(), TOKENS)
def test_no_reuse_when_the_request_opts_out(table: tuple[list[FakeSlot], int], tokens: list[int]) -> None:
    slots, _ = table
    if all(s.seq is not None for s in slots):
        return
    reuse = planner.plan_reuse(tokens, slots, reuse=False)
    assert (reuse.tokens, reuse.source) == (0, None)
    assert slots[reuse.target].seq is None


@given(slot_tables())
def test_packed_slots_fill_from_the_lowest_free_one(table: tuple[list[FakeSlot], int]) -> None:
    """With a KV stream per slot a new sequence without a prefix to reuse takes the lowest free slot, so
    running slots stay consecutive (llama.cpp splits a batch at every gap between their ids)."""
    slots, _ = table
    free = [s.index for s in slots if s.seq is None]
    if not free:
        return
    assert planner.spare_slot(slots, packed=True) == free[0]
    assert planner.plan_reuse([9], slots, reuse=True, packed=True) == planner.Reuse(free[0])


ADAPTER_SETS = st.sampled_from([(), ((1, 1.0),), ((2, 1.0),), ((1, 0.5), (2, 1.0))])


@given(slot_tables(), TOKENS, ADAPTER_SETS, st.data())
def test_reuse_only_from_cells_computed_with_the_same_adapters(
    table: tuple[list[FakeSlot], int], tokens: list[int], adapters: planner.AdapterSet, data: st.DataObject
) -> None:
    slots, _ = table
    if not any(s.seq is None for s in slots):
        return
    for slot in slots:
        slot.cached_adapters = data.draw(ADAPTER_SETS)
        if slot.seq is not None:
            slot.seq.adapters = data.draw(ADAPTER_SETS)
    reuse = planner.plan_reuse(tokens, slots, reuse=True, adapters=adapters)
    if reuse.tokens:
        source = slots[reuse.source if reuse.source is not None else reuse.target]
        holder = source.seq.adapters if source.seq is not None else source.cached_adapters
        assert holder == adapters


# -- batching and preemption -------------------------------------------------------------------------------
@given(running_seqs(), st.data(), st.integers(5, 16), st.integers(1, 16))
def test_each_step_runs_one_adapter_set_and_every_set_gets_its_turn(
    running: list[FakeSeq], data: st.DataObject, n_batch: int, prefill_chunk: int
) -> None:
    """A step computes the sequences of one adapter set (llama.cpp applies adapters to the whole
    context); the sets of the running sequences take turns, so none waits for another to finish."""
    for seq in running:
        seq.adapters = data.draw(ADAPTER_SETS)
    sets = {s.adapters for s in running}
    last: planner.AdapterSet | None = None
    seen = []
    for _ in range(len(sets)):
        step = planner.plan_step(running, 10_000, n_batch, prefill_chunk, last_adapters=last)
        assert all(s.adapters == step.adapters for s, _ in step.batch)
        assert step.batch or not running
        seen.append(step.adapters)
        last = step.adapters
    assert set(seen) == sets


@given(running_seqs(), st.integers(0, 40), st.integers(5, 16), st.integers(1, 16))
def test_preemption_takes_the_newest_first_and_only_what_is_needed(
    running: list[FakeSeq], free: int, n_batch: int, prefill_chunk: int
) -> None:
    step = planner.plan_step(running, free, n_batch, prefill_chunk)
    kept = [s for s in running if s not in step.preempt]
    victims = [s.order for s in step.preempt]
    assert victims == sorted(victims, reverse=True)
    assert all(s.order < min(victims) for s in kept) if victims else kept == running
    # The batch fits in what is free once the preempted sequences gave their cells back ...
    released = sum(s.n_past for s in step.preempt)
    assert step.cells == sum(n for _, n in step.batch)
    assert step.cells <= free + released or len(kept) == 1
    # ... and one preemption fewer would not have made it fit.
    if step.preempt:
        fewer = kept + step.preempt[-1:]
        cells = sum(n for _, n in planner.plan_batch(fewer, n_batch, prefill_chunk))
        assert cells > free + released - step.preempt[-1].n_past


@given(running_seqs(), st.integers(5, 16), st.integers(1, 16))
def test_batch_within_budget_and_every_decoding_sequence_in_it(
    running: list[FakeSeq], n_batch: int, prefill_chunk: int
) -> None:
    batch = planner.plan_batch(running, n_batch, prefill_chunk)
    assert sum(n for _, n in batch) <= n_batch
    assert all(1 <= n <= len(s.tokens) - s.n_past for s, n in batch)
    decoding = [s for s in running if len(s.tokens) - s.n_past == 1]
    assert {id(s) for s in decoding} <= {id(s) for s, _ in batch}
    if decoding:  # a long prompt never stalls the streams: at most one chunk of prompt per step
        assert sum(n for s, n in batch if s not in decoding) <= prefill_chunk


@given(running_seqs(), st.data(), st.integers(5, 16), st.integers(1, 16), st.booleans())
def test_a_scored_prompt_runs_alone_in_fixed_chunks_every_other_turn(
    running: list[FakeSeq], data: st.DataObject, n_batch: int, prefill_chunk: int, turn: bool
) -> None:
    """A prompt whose logprobs are asked for is computed as llama.cpp computes a lone sequence: alone in
    the batch, in chunks of n_batch from its start (other ubatch cuts change its logprobs). It takes its
    turn, and gives the others theirs."""
    for seq in running:
        seq.scoring = data.draw(st.booleans())
        if seq.scoring:  # scoring starts from nothing cached and goes chunk by chunk
            seq.n_past = n_batch * data.draw(st.integers(0, (len(seq.tokens) - 1) // n_batch))
    batch = planner.plan_batch(running, n_batch, prefill_chunk, scoring_turn=turn)
    scored = [s for s in running if s.scoring]
    others = [s for s in running if not s.scoring]
    if scored and (turn or not others):
        oldest = min(scored, key=lambda s: s.order)
        assert batch == [(oldest, min(len(oldest.tokens) - oldest.n_past, n_batch))]
    else:
        assert not any(s.scoring for s, _ in batch)
        assert batch == planner.plan_batch(others, n_batch, prefill_chunk)
        assert bool(batch) == bool(others)


@given(slot_tables(), st.integers(0, 40))
def test_eviction_frees_enough_dropping_least_recently_used_caches_first(
    table: tuple[list[FakeSlot], int], need: int
) -> None:
    slots, total = table
    protect = {slots[0].index}
    dropped = planner.plan_eviction(slots, total, need, protect=protect)
    caches = sorted(
        (s for s in slots if s.seq is None and s.cached and s.index not in protect), key=lambda s: s.last_used
    )
    assert dropped == [s.index for s in caches[: len(dropped)]]
    unoccupied = total - planner.used_cells(slots) - planner.cached_cells(slots)
    unoccupied += sum(len(slots[i].cached) for i in dropped)
    if len(dropped) < len(caches):
        assert unoccupied >= need
    if dropped:  # never one cache more than needed
        assert unoccupied - len(slots[dropped[-1]].cached) < need


# -- the scheduler loop, modelled ----------------------------------------------------------------------
REQUESTS = st.lists(st.tuples(TOKENS, st.integers(1, 8), st.booleans()), min_size=1, max_size=8)


@given(
    REQUESTS,
    st.integers(1, 4),
    st.integers(0, 16),
    st.integers(5, 16),
    st.integers(1, 16),
)
def test_every_request_is_admitted_and_finishes_without_overfilling_the_cache(
    requests: list[tuple[list[int], int, bool]], n_slots: int, spare: int, n_batch: int, prefill_chunk: int
) -> None:
    # Requests that could never fit are refused at submission, so the cache holds the largest one.
    total = max(len(t) + m for t, m, _ in requests) + spare
    slots = [FakeSlot(i) for i in range(n_slots)]
    waiting: deque[tuple[FakeSeq, bool]] = deque(
        (FakeSeq(list(t), prompt=len(t), max_tokens=m), reuse) for t, m, reuse in requests
    )
    running: list[FakeSeq] = []
    finished: list[FakeSeq] = []
    clock = 0

    def release(seq: FakeSeq, *, keep: bool) -> None:
        nonlocal clock
        slot = next(s for s in slots if s.seq is seq)
        clock += 1
        slot.seq, slot.last_used, slot.cached = None, clock, list(seq.tokens[: seq.n_past]) if keep else []
        seq.n_past = 0

    for _ in range(2000):
        while waiting:
            seq, reuse = waiting[0]
            admitted = planner.admit(seq.tokens, seq.cells_needed, slots, total, reuse=reuse)
            if admitted is None:
                break
            waiting.popleft()
            plan = admitted.reuse
            protect = tuple(i for i in (plan.target, plan.source) if i is not None) if plan.tokens else ()
            for index in planner.plan_eviction(slots, total, admitted.need, protect=protect):
                slots[index].cached = []
            clock += 1
            target = slots[plan.target]
            target.seq, target.cached, target.last_used = seq, [], clock
            seq.n_past, seq.order = plan.tokens, clock
            running.append(seq)
            assert len(running) <= n_slots
        if not running:
            assert not waiting, "nothing runs, and the head of the queue waits for ever"
            break
        step = planner.plan_step(running, planner.free_cells(slots, total), n_batch, prefill_chunk)
        for seq in step.preempt:
            running.remove(seq)
            release(seq, keep=False)
            waiting.appendleft((seq, False))
        for index in planner.plan_eviction(slots, total, step.cells):
            slots[index].cached = []
        cells = planner.used_cells(slots) + planner.cached_cells(slots) + step.cells
        assert cells <= total, "the batch overfills the KV cache"
        for seq, take in step.batch:
            seq.n_past += take
            if seq.n_past == len(seq.tokens):  # logits for the last token: sample the next one
                seq.tokens.append((len(seq.tokens) * 7 + seq.order) % 3)
                if len(seq.tokens) - seq.prompt == seq.max_tokens:
                    running.remove(seq)
                    release(seq, keep=True)
                    finished.append(seq)
    assert len(finished) == len(requests)

"""The decode loop: continuous batching over one llama.cpp context, one KV stream per slot or one pool.

Every step builds one ``llama_batch`` with the next token of each decoding sequence plus a budgeted chunk
of pending prompt tokens (chunked prefill: a long prompt never stalls the streams already decoding),
calls ``llama_decode`` once and samples each sequence with its own sampler chain. Requests wait in a
bounded FIFO queue and are admitted when a slot is free and their prompt plus ``max_tokens`` fits in the
free cells; when cells run out mid-generation the newest sequence is preempted and re-queued, to be
recomputed later from its prompt and generated tokens. A request for prompt logprobs gets logits for
every prompt token (never a cached prefix, whose cells have none), its prompt computed alone in fixed
chunks (see :func:`planner.plan_batch`) every other step, the logprobs collected chunk by chunk and
sent with its first token, or alone when ``max_tokens`` is 0. LoRA adapters apply to the whole context,
so a step computes the sequences of one adapter set and the sets take turns (:func:`planner.next_adapters`);
the context's adapters are switched only when the set changes. The loop runs on its own
thread (ctypes releases the GIL inside llama.cpp) and hands deltas back through each sequence's ``emit``
callback. What to admit, what to batch and what to preempt is decided by :mod:`planner`; this loop
applies it.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections import deque
from dataclasses import fields
from itertools import count
from pathlib import Path

import llama_cpp as lc

from deepfort.engines.base import EngineDelta, EngineStats
from deepfort.engines.llamacpp import planner
from deepfort.engines.llamacpp.model import LlamaModel
from deepfort.engines.llamacpp.planner import AdapterSet
from deepfort.engines.llamacpp.promptcache import HostPromptCache
from deepfort.engines.llamacpp.sampler import Sampler
from deepfort.engines.llamacpp.sequence import Seq
from deepfort.engines.llamacpp.slots import SlotTable
from deepfort.engines.llamacpp.stepper import collect_prompt_logprobs, next_token, prompt_only
from deepfort.errors import ConfigError, EngineError, QueueFullError

log = logging.getLogger(__name__)


def _cancelled(seq: Seq) -> EngineDelta:
    return EngineDelta(
        finish_reason="cancelled", prompt_tokens=len(seq.prompt), completion_tokens=seq.generated
    )


class Scheduler:
    def __init__(
        self,
        model: LlamaModel,
        *,
        model_id: str,
        n_ctx: int,
        n_parallel: int,
        kv_cells: int,
        kv_unified: bool,
        n_batch: int,
        prefill_chunk: int,
        n_threads: int,
        n_threads_batch: int,
        queue_size: int,
        retry_after_s: int,
        prompt_cache_bytes: int = 0,
    ) -> None:
        self.model = model
        self.n_ctx = n_ctx
        self.n_parallel = n_parallel
        self.n_batch = n_batch
        self.prefill_chunk = min(prefill_chunk, n_batch)
        self.queue_size = queue_size
        self.retry_after_s = retry_after_s
        params = lc.llama_context_default_params()
        params.n_ctx = kv_cells
        params.n_batch = n_batch
        params.n_ubatch = min(n_batch, 512)
        params.n_seq_max = n_parallel
        params.n_threads = n_threads
        params.n_threads_batch = n_threads_batch
        # One stream per slot (llama-server's layout): a sequence's attention spans only its own cells.
        # In one pool it spans every slot's cells up to the highest in use, masked: a 16-stream step
        # costs about a third more (docs/benchmarks.md), but a long conversation may borrow others'
        # share, which is what a pool smaller than n_ctx x slots is for.
        params.kv_unified = kv_unified
        params.no_perf = True
        ctx = lc.llama_init_from_model(model.ptr, params)
        if not ctx:
            raise ConfigError(f"llama.cpp could not create a context for {model_id} ({kv_cells} cells)")
        self.ctx = ctx
        self.kv_cells = lc.llama_n_ctx(ctx)
        self.unified = kv_unified
        self.context_cells = lc.llama_n_ctx_seq(ctx)
        """The most cells one sequence can hold: the pool, or its slot's stream."""
        host = HostPromptCache(ctx, prompt_cache_bytes) if prompt_cache_bytes > 0 else None
        self.slots = SlotTable(ctx, n_parallel, self.kv_cells, host=host, unified=kv_unified)
        self.batch = lc.llama_batch_init(n_batch, 0, 1)
        self._cond = threading.Condition()
        self._waiting: deque[Seq] = deque()
        self._running: list[Seq] = []
        self._order = count(1)
        self._scoring_turn = True
        """A scored prompt's chunk may take the next step (it alternates with the others' steps)."""
        self._stopping = False
        self._ctx_lock = threading.Lock()
        """Held around each step's llama.cpp calls and while an adapter is loaded or freed (llama.cpp
        keeps a model's adapters in a set that every decode reads)."""
        self._adapters: dict[int, lc.llama_adapter_lora_p] = {}
        self._adapter_ids = count(1)
        self._retiring: set[int] = set()
        self._applied: AdapterSet = ()
        """The adapters set on the context now."""
        self._last_adapters: AdapterSet | None = None
        """The adapter set of the previous step: the next step takes the next set in turn."""
        self._thread: threading.Thread | None = None
        self._stats = EngineStats(
            model=model_id, slots=n_parallel, queue_size=queue_size, kv_cells_total=self.kv_cells
        )

    # -- called from the event loop --------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="deepfort-llamacpp", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        lc.llama_batch_free(self.batch)
        lc.llama_free(self.ctx)
        for adapter in self._adapters.values():
            lc.llama_adapter_lora_free(adapter)
        self._adapters.clear()

    def load_adapter(self, path: Path) -> int:
        """Load the GGUF LoRA adapter at ``path`` for this model; its id, for :attr:`Seq.adapters`.
        Blocking (call it from a thread): it waits for the step in progress."""
        with self._ctx_lock:
            adapter = lc.llama_adapter_lora_init(self.model.ptr, str(path).encode())
        if not adapter:
            raise ConfigError(
                f"llama.cpp could not load {path} as a LoRA adapter of this model (a GGUF LoRA adapter, "
                "as `deepfort finetune` writes, made for a base model of the same architecture and size)"
            )
        with self._cond:
            uid = next(self._adapter_ids)
            self._adapters[uid] = adapter
        return uid

    def unload_adapter(self, uid: int) -> None:
        """Free adapter ``uid`` once no sequence, running or waiting, uses it any more."""
        with self._cond:
            if uid in self._adapters:
                self._retiring.add(uid)
                self._cond.notify_all()

    def submit(self, seq: Seq) -> None:
        with self._cond:
            if self._stopping:
                raise EngineError("the engine is shutting down")
            gone = [uid for uid, _ in seq.adapters if uid not in self._adapters or uid in self._retiring]
            if gone:
                raise EngineError(f"LoRA adapter {gone[0]} was removed")
            immediate = not self._waiting and self.slots.has_free_slot()
            if not immediate and len(self._waiting) >= self.queue_size:
                self._stats.rejected_total += 1
                raise QueueFullError(
                    f"the request queue is full ({self.queue_size} waiting); retry later",
                    retry_after=self.retry_after_s,
                )
            self._waiting.append(seq)
            self._stats.requests_total += 1
            self._stats.prompt_tokens_total += len(seq.prompt)
            self._cond.notify_all()

    def cancel(self, seq: Seq) -> None:
        with self._cond:
            if not seq.done:
                seq.cancelled = True
                self._cond.notify_all()

    def stats(self) -> EngineStats:
        with self._cond:
            stats = self._stats
            stats.running = len(self._running)
            stats.waiting = len(self._waiting)
            stats.kv_cells_used = self.slots.used_cells
            stats.kv_cells_cached = self.slots.cached_cells
            return EngineStats(**{f.name: getattr(stats, f.name) for f in fields(EngineStats)})

    # -- the loop thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._sweep_cancelled()
                while not (self._stopping or self._running or self._waiting or self._retiring):
                    self._cond.wait()
                    self._sweep_cancelled()
                if self._stopping:
                    for seq in [*self._running, *self._waiting]:
                        seq.emit(EngineError("the engine shut down"))
                    return
                self._admit()
                retired = self._take_retired()
                if retired:
                    self._free_adapters(retired)
                if not self._running:
                    # Waiting requests that do not fit yet; nothing runs that could free cells.
                    self._cond.wait(timeout=0.05)
                    continue
            try:
                with self._ctx_lock:
                    self._step()
            except Exception as exc:  # a llama.cpp failure must not leave requests hanging
                log.exception("decode step failed")
                with self._cond:
                    for seq in list(self._running):
                        seq.emit(EngineError(f"generation failed: {exc}"))
                        self._finish(seq, keep_cache=False)

    def _sweep_cancelled(self) -> None:
        for seq in [s for s in self._waiting if s.cancelled]:
            self._waiting.remove(seq)
            seq.done = True
            seq.close_samplers()
            self._stats.cancelled_total += 1
            seq.emit(_cancelled(seq))
        for seq in [s for s in self._running if s.cancelled]:
            self._finish(seq, keep_cache=False)
            self._stats.cancelled_total += 1
            seq.emit(_cancelled(seq))

    def _take_retired(self) -> list[int]:
        """Adapters being removed that no sequence uses any more (they leave ``_adapters`` now)."""
        in_use = {uid for seq in [*self._running, *self._waiting] for uid, _ in seq.adapters}
        retired = [uid for uid in self._retiring if uid not in in_use]
        for uid in retired:
            self._retiring.discard(uid)
        return retired

    def _free_adapters(self, retired: list[int]) -> None:
        with self._ctx_lock:
            if any(uid in retired for uid, _ in self._applied):
                self._set_adapters(())
            for uid in retired:
                lc.llama_adapter_lora_free(self._adapters.pop(uid))

    def _set_adapters(self, adapters: AdapterSet) -> None:
        """Apply ``adapters`` to the context (the next decode's graph includes them)."""
        n = len(adapters)
        if n:
            handles = (lc.llama_adapter_lora_p_ctypes * n)(*(self._adapters[uid] for uid, _ in adapters))
            scales = (ctypes.c_float * n)(*(scale for _, scale in adapters))
            rc = lc.llama_set_adapters_lora(self.ctx, handles, n, scales)
        else:
            rc = lc.llama_set_adapters_lora(self.ctx, None, 0, None)
        if rc != 0:
            raise EngineError(f"llama_set_adapters_lora returned {rc}")
        self._applied = adapters

    def _admit(self) -> None:
        while self._waiting:
            seq = self._waiting[0]
            admission = self.slots.admit(seq)
            if admission is None:
                return  # first in, first served: later requests wait behind it
            self._waiting.popleft()
            if seq.sampler is None and not self._build_samplers(seq):
                continue
            try:
                self.slots.acquire(seq, admission.reuse, need=admission.need)
            except Exception as exc:  # fail this request, never the loop thread (and every request with it)
                log.exception("admitting a request failed")
                if seq.slot >= 0:
                    self.slots.release(seq, keep_cache=False)
                seq.close_samplers()
                seq.done = True
                seq.emit(EngineError(f"generation failed: {exc}"))
                continue
            if seq.admitted_at is None:
                seq.admitted_at = time.monotonic()
            seq.order = next(self._order)
            self._running.append(seq)
            if seq.reused:
                self._stats.prefix_cache_hits_total += 1
                self._stats.prefix_cache_tokens_total += seq.reused

    def _build_samplers(self, seq: Seq) -> bool:
        try:
            seq.sampler = Sampler(self.model, seq.request.sampling, seq.grammar)
            if seq.deferred_grammar is not None:
                seq.constrained = Sampler(self.model, seq.request.sampling, seq.deferred_grammar)
        except Exception as exc:
            seq.close_samplers()
            seq.done = True
            seq.emit(exc)
            return False
        return True

    def _finish(self, seq: Seq, *, keep_cache: bool) -> None:
        seq.done = True
        if seq in self._running:
            self._running.remove(seq)
            self.slots.release(seq, keep_cache=keep_cache and seq.request.cache_prompt)
        seq.close_samplers()

    def _preempt(self, seq: Seq) -> None:
        """Take ``seq``'s cells back and queue it first; it resumes by recomputing its tokens."""
        log.info(
            "preempting a sequence", extra={"request_id": seq.request.request_id, "tokens": len(seq.tokens)}
        )
        self._running.remove(seq)
        self.slots.release(seq, keep_cache=False)
        seq.preemptions += 1
        self._waiting.appendleft(seq)
        self._stats.preemptions_total += 1

    def _make_room(self) -> list[tuple[Seq, int]]:
        """This step's batch: how many pending tokens of each running sequence, after preempting what
        does not fit; the context's adapters set for it."""
        with self._cond:
            step = planner.plan_step(
                self._running,
                self.slots.free_cells,
                self.n_batch,
                self.prefill_chunk,
                scoring_turn=self._scoring_turn,
                last_adapters=self._last_adapters,
            )
            self._scoring_turn = not any(seq.scoring for seq, _ in step.batch)
            self._last_adapters = step.adapters
            if step.adapters != self._applied:
                self._set_adapters(step.adapters)
            for seq in step.preempt:
                self._preempt(seq)
            self.slots.evict_cache(step.cells)
            # In slot order: with a stream per slot llama.cpp puts only consecutive sequence ids, in
            # increasing order, into one compute (its split_equal), and starts another at every break.
            return sorted(step.batch, key=lambda item: item[0].slot)

    def _step(self) -> None:
        plan = self._make_room()
        batch = self.batch
        n = 0
        outputs: list[tuple[Seq, int]] = []
        prompt_rows: dict[Seq, list[tuple[int, int]]] = {}
        for seq, take in plan:
            for j in range(take):
                pos = seq.n_past + j
                batch.token[n] = seq.tokens[pos]
                batch.pos[n] = pos
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = seq.slot
                last = pos == len(seq.tokens) - 1
                wanted = seq.wants_logits(pos)
                batch.logits[n] = 1 if last or wanted else 0
                if last:
                    outputs.append((seq, n))
                if wanted:
                    prompt_rows.setdefault(seq, []).append((pos, n))
                n += 1
        batch.n_tokens = n
        rc = lc.llama_decode(self.ctx, batch)
        if rc == 1 and len(self._running) > 1:
            # No room in the cache after all (shared cells, fragmentation): preempt and try again.
            with self._cond:
                self._preempt(planner.newest(self._running))
            return
        if rc != 0:
            raise EngineError(f"llama_decode returned {rc}")
        with self._cond:
            stats = self._stats
            stats.decode_steps_total += 1
            stats.batch_tokens_total += n
            stats.last_step_batch = n
            stats.last_step_sequences = len(plan)
            stats.prefill_tokens_total += sum(
                take if seq.pending > 1 else int(seq.generated == 0) for seq, take in plan
            )
        for seq, take in plan:
            seq.n_past += take
        for seq, rows in prompt_rows.items():
            if not seq.cancelled:
                collect_prompt_logprobs(self.model, self.ctx, seq, rows)
        for seq, index in outputs:
            if seq.cancelled:
                continue
            if seq.max_tokens == 0:
                delta = prompt_only(self.model, seq)
            else:
                delta = next_token(self.model, self.ctx, seq, index, self.n_ctx)
            with self._cond:
                self._stats.generated_tokens_total += len(delta.token_ids)
                if delta.finish_reason is not None:
                    self._stats.finished_total += 1
                    self._finish(seq, keep_cache=True)
            seq.emit(delta)

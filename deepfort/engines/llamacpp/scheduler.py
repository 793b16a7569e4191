"""The decode loop: one llama.cpp context, ``n_parallel`` slots, one ``llama_decode`` per step.

Every step puts the next token of each decoding sequence, plus a budgeted chunk of pending prompt tokens,
into one batch, decodes it once and samples each sequence with its own sampler chain. The loop runs on
its own thread (ctypes releases the GIL inside llama.cpp), takes work from a bounded FIFO queue and hands
deltas back through each sequence's ``emit`` callback.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import llama_cpp as lc

from deepfort.engines.base import EngineDelta, EngineRequest, EngineStats, FinishReason, TokenLogprob
from deepfort.engines.llamacpp.model import LlamaModel
from deepfort.engines.llamacpp.sampler import Sampler, logits_at, token_logprob
from deepfort.engines.llamacpp.textstream import StopTextStream, ThinkingTracker
from deepfort.errors import ConfigError, EngineError, QueueFullError

log = logging.getLogger(__name__)

Emit = Callable[[EngineDelta | BaseException], None]


@dataclass(eq=False)
class Seq:
    """One generation: a prompt, its slot in the KV cache, its sampler and its text stream."""

    request: EngineRequest
    prompt: list[int]
    max_tokens: int
    emit: Emit
    grammar: str | None = None
    thinking_end: list[int] = field(default_factory=list)
    slot: int = -1
    n_past: int = 0
    pending: list[int] = field(default_factory=list)
    forced: list[int] = field(default_factory=list)
    generated: int = 0
    sampler: Sampler | None = None
    text: StopTextStream = field(init=False)
    thinking: ThinkingTracker | None = field(init=False)
    deferred_grammar: str | None = field(init=False)
    constrained: Sampler | None = None
    """The grammar-bound sampler waiting for reasoning to end (built at admission, so a bad grammar is
    refused before any token, not halfway)."""
    cancelled: bool = False
    done: bool = False

    def __post_init__(self) -> None:
        self.text = StopTextStream(self.request.stop)
        budget = self.request.thinking
        self.thinking = (
            ThinkingTracker(budget.max_tokens, budget.start_tag, budget.end_tag, started=budget.started)
            if budget is not None and self.thinking_end
            else None
        )
        # Reasoning already open: the JSON constraint waits for its end (a grammar would force JSON
        # into the reasoning otherwise).
        self.deferred_grammar = self.grammar if self.thinking is not None and self.thinking.started else None
        if self.deferred_grammar is not None:
            self.grammar = None


class Scheduler:
    def __init__(
        self,
        model: LlamaModel,
        *,
        model_id: str,
        n_ctx: int,
        n_parallel: int,
        n_batch: int,
        n_threads: int,
        n_threads_batch: int,
        queue_size: int,
        retry_after_s: int,
    ) -> None:
        self.model = model
        self.n_ctx = n_ctx
        self.n_parallel = n_parallel
        self.n_batch = n_batch
        self.queue_size = queue_size
        self.retry_after_s = retry_after_s
        params = lc.llama_context_default_params()
        params.n_ctx = n_ctx * n_parallel
        params.n_batch = n_batch
        params.n_ubatch = min(n_batch, 512)
        params.n_seq_max = n_parallel
        params.n_threads = n_threads
        params.n_threads_batch = n_threads_batch
        params.kv_unified = False  # each slot owns n_ctx cells, as llama-server's slots do
        params.no_perf = True
        ctx = lc.llama_init_from_model(model.ptr, params)
        if not ctx:
            raise ConfigError(f"llama.cpp could not create a context for {model_id} (n_ctx={n_ctx})")
        self.ctx = ctx
        self.memory = lc.llama_get_memory(ctx)
        self.batch = lc.llama_batch_init(n_batch, 0, 1)
        self._cond = threading.Condition()
        self._waiting: deque[Seq] = deque()
        self._running: list[Seq] = []
        self._free_slots = list(range(n_parallel))
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._stats = EngineStats(model=model_id, slots=n_parallel, queue_size=queue_size)

    # -- called from the event loop ----------------------------------------------------------------------
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

    def submit(self, seq: Seq) -> None:
        with self._cond:
            if self._stopping:
                raise EngineError("the engine is shutting down")
            busy = len(self._running) >= self.n_parallel or bool(self._waiting)
            if busy and len(self._waiting) >= self.queue_size:
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
            self._stats.running = len(self._running)
            self._stats.waiting = len(self._waiting)
            return EngineStats(**{k: getattr(self._stats, k) for k in EngineStats.__slots__})

    # -- the loop thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._sweep_cancelled()
                while not self._stopping and not self._running and not self._waiting:
                    self._cond.wait()
                    self._sweep_cancelled()
                if self._stopping:
                    for seq in [*self._running, *self._waiting]:
                        seq.emit(EngineError("the engine shut down"))
                    return
                self._admit()
            if not self._running:
                continue
            try:
                self._step()
            except Exception as exc:  # a llama.cpp failure must not leave requests hanging
                log.exception("decode step failed")
                with self._cond:
                    for seq in list(self._running):
                        seq.emit(EngineError(f"generation failed: {exc}"))
                        self._release(seq)

    def _sweep_cancelled(self) -> None:
        for seq in [s for s in self._waiting if s.cancelled]:
            log.debug("cancelled while queued", extra={"request_id": seq.request.request_id})
            self._waiting.remove(seq)
            seq.done = True
            self._stats.cancelled_total += 1
        for seq in [s for s in self._running if s.cancelled]:
            log.info(
                "cancelled while running",
                extra={"request_id": seq.request.request_id, "generated": seq.generated},
            )
            self._release(seq)
            self._stats.cancelled_total += 1

    def _admit(self) -> None:
        while self._waiting and self._free_slots:
            seq = self._waiting.popleft()
            seq.slot = self._free_slots.pop(0)
            try:
                seq.sampler = Sampler(self.model, seq.request.sampling, seq.grammar)
                if seq.deferred_grammar is not None:
                    seq.constrained = Sampler(self.model, seq.request.sampling, seq.deferred_grammar)
            except Exception as exc:
                if seq.sampler is not None:
                    seq.sampler.close()
                self._free_slots.append(seq.slot)
                seq.done = True
                seq.emit(exc)
                continue
            lc.llama_memory_seq_rm(self.memory, seq.slot, -1, -1)
            seq.pending = list(seq.prompt)
            self._running.append(seq)

    def _release(self, seq: Seq) -> None:
        seq.done = True
        if seq in self._running:
            self._running.remove(seq)
        lc.llama_memory_seq_rm(self.memory, seq.slot, -1, -1)
        self._free_slots.append(seq.slot)
        for sampler in (seq.sampler, seq.constrained):
            if sampler is not None:
                sampler.close()
        seq.sampler = seq.constrained = None

    def _step(self) -> None:
        batch = self.batch
        n = 0
        outputs: list[tuple[Seq, int]] = []
        chunks: list[tuple[Seq, int]] = []
        # Decoding sequences first (one token each), then prompt chunks in the budget that is left.
        decoding = [s for s in self._running if s.n_past >= len(s.prompt)]
        prefilling = [s for s in self._running if s.n_past < len(s.prompt)]
        for seq in [*decoding, *prefilling]:
            room = self.n_batch - n
            if room <= 0:
                break
            take = seq.pending[:room]
            for j, token in enumerate(take):
                batch.token[n] = token
                batch.pos[n] = seq.n_past + j
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = seq.slot
                last = j == len(take) - 1 and len(take) == len(seq.pending)
                batch.logits[n] = 1 if last else 0
                if last:
                    outputs.append((seq, n))
                n += 1
            chunks.append((seq, len(take)))
        batch.n_tokens = n
        rc = lc.llama_decode(self.ctx, batch)
        if rc != 0:
            raise EngineError(f"llama_decode returned {rc}")
        with self._cond:
            self._stats.decode_steps_total += 1
            self._stats.last_step_batch = n
        for seq, taken in chunks:
            seq.n_past += taken
            seq.pending = seq.pending[taken:]
        for seq, index in outputs:
            if seq.cancelled:
                continue
            self._next_token(seq, index)

    def _constrain(self, seq: Seq) -> None:
        """Reasoning is over: from the next token on, sample under the JSON grammar."""
        assert seq.sampler is not None and seq.constrained is not None
        seq.sampler.close()
        seq.sampler, seq.constrained = seq.constrained, None
        seq.deferred_grammar = None

    def _next_token(self, seq: Seq, index: int) -> None:
        assert seq.sampler is not None
        model = self.model
        if seq.thinking is not None and seq.thinking.should_force():
            seq.forced = list(seq.thinking_end)
        was_forced = bool(seq.forced)
        if was_forced:
            token = seq.forced.pop(0)
            seq.sampler.accept(token)
        else:
            token = seq.sampler.sample(self.ctx, index)
        logprobs: list[TokenLogprob] | None = None
        if seq.request.logprobs is not None:
            logits = logits_at(self.ctx, index, model.n_vocab)
            logprobs = [token_logprob(model, logits, token, seq.request.logprobs)]
        seq.generated += 1
        finish: FinishReason | None = None
        if model.is_eog(token) and not was_forced:
            text = seq.text.flush()
            finish = "stop"
        else:
            piece = model.piece(token)
            if seq.thinking is not None:
                seq.thinking.observe(piece.decode("utf-8", "replace"))
                if seq.thinking.ended and seq.deferred_grammar is not None and not seq.forced:
                    self._constrain(seq)
            text = seq.text.push(piece)
            if seq.text.stopped:
                finish = "stop"
            elif seq.generated >= seq.max_tokens or seq.n_past >= self.n_ctx:
                text += seq.text.flush()
                finish = "length"
        delta = EngineDelta(
            text=text,
            token_ids=[token],
            logprobs=logprobs,
            finish_reason=finish,
            prompt_tokens=len(seq.prompt),
            completion_tokens=seq.generated,
        )
        with self._cond:
            self._stats.generated_tokens_total += 1
            if finish is not None:
                self._stats.finished_total += 1
                self._release(seq)
        seq.emit(delta)
        if finish is None:
            seq.pending = [token]

"""After a decode: pick one sequence's next token and turn it into a delta."""

from __future__ import annotations

import llama_cpp as lc

from deepfort.engines.base import EngineDelta, FinishReason, TokenLogprob
from deepfort.engines.llamacpp.model import LlamaModel
from deepfort.engines.llamacpp.sampler import logits_at, token_logprob
from deepfort.engines.llamacpp.sequence import Seq


def _constrain(seq: Seq) -> None:
    """Reasoning is over: from the next token on, sample under the JSON grammar."""
    assert seq.sampler is not None and seq.constrained is not None
    seq.sampler.close()
    seq.sampler, seq.constrained = seq.constrained, None
    seq.deferred_grammar = None


def next_token(model: LlamaModel, ctx: lc.llama_context_p, seq: Seq, index: int, n_ctx: int) -> EngineDelta:
    """Sample (or take a forced token) from output ``index``, append it to ``seq.tokens`` and return the
    delta: text released by the stop-string stream, logprobs, and a finish reason when it ends."""
    assert seq.sampler is not None
    if seq.thinking is not None and seq.thinking.should_force():
        seq.forced = list(seq.thinking_end)
    was_forced = bool(seq.forced)
    if was_forced:
        token = seq.forced.pop(0)
        seq.sampler.accept(token)
    else:
        token = seq.sampler.sample(ctx, index)
    logprobs: list[TokenLogprob] | None = None
    if seq.request.logprobs is not None:
        logprobs = [token_logprob(model, logits_at(ctx, index, model.n_vocab), token, seq.request.logprobs)]
    seq.tokens.append(token)
    finish: FinishReason | None = None
    if model.is_eog(token) and not was_forced and not seq.request.ignore_eos:
        text = seq.text.flush()
        finish = "stop"
    else:
        piece = model.piece(token)
        if seq.thinking is not None:
            seq.thinking.observe(piece.decode("utf-8", "replace"))
            if seq.thinking.ended and seq.constrained is not None and not seq.forced:
                _constrain(seq)
        text = seq.text.push(piece)
        if seq.text.stopped:
            finish = "stop"
        elif seq.generated >= seq.max_tokens or len(seq.tokens) >= n_ctx:
            text += seq.text.flush()
            finish = "length"
    return EngineDelta(
        text=text,
        token_ids=[token],
        logprobs=logprobs,
        finish_reason=finish,
        prompt_tokens=len(seq.prompt),
        completion_tokens=seq.generated,
        queue_s=None if seq.generated != 1 or seq.admitted_at is None else seq.admitted_at - seq.queued_at,
    )

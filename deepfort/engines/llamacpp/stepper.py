"""After a decode: collect prompt logprobs, pick one sequence's next token and turn it into a delta."""

from __future__ import annotations

import llama_cpp as lc
import numpy as np

from deepfort.engines.base import EngineDelta, FinishReason, PromptLogprobs, TokenLogprob
from deepfort.engines.llamacpp.model import LlamaModel
from deepfort.engines.llamacpp.sampler import LOGPROB_ROWS, logits_at, token_logprob, token_logprobs
from deepfort.engines.llamacpp.sequence import Seq


def _constrain(seq: Seq) -> None:
    """Reasoning is over: from the next token on, sample under the JSON grammar."""
    assert seq.sampler is not None and seq.constrained is not None
    seq.sampler.close()
    seq.sampler, seq.constrained = seq.constrained, None
    seq.deferred_grammar = None


def collect_prompt_logprobs(
    model: LlamaModel, ctx: lc.llama_context_p, seq: Seq, rows: list[tuple[int, int]]
) -> None:
    """Append the log-probabilities of the prompt tokens after positions ``rows`` (``(pos, output
    index)`` pairs of the last decode, in order) to ``seq.prompt_logprobs``."""
    assert seq.prompt_logprobs is not None and seq.request.prompt_logprobs is not None
    assert len(seq.prompt_logprobs) == rows[0][0]
    for start in range(0, len(rows), LOGPROB_ROWS):
        block = rows[start : start + LOGPROB_ROWS]
        logits = np.stack([logits_at(ctx, index, model.n_vocab) for _, index in block])
        tokens = [seq.prompt[pos + 1] for pos, _ in block]
        seq.prompt_logprobs.extend(token_logprobs(model, logits, tokens, seq.request.prompt_logprobs))


def prompt_logprobs(model: LlamaModel, seq: Seq) -> PromptLogprobs | None:
    """The prompt's logprobs once all are collected, to be sent (once)."""
    tokens = seq.take_prompt_logprobs()
    if tokens is None:
        return None
    first = model.piece(seq.prompt[0])
    return PromptLogprobs(first.decode("utf-8", "replace"), list(first), tokens)


def prompt_only(model: LlamaModel, seq: Seq) -> EngineDelta:
    """The end of a request for the prompt alone (``max_tokens`` 0): its logprobs, nothing generated."""
    return EngineDelta(
        prompt_logprobs=prompt_logprobs(model, seq),
        finish_reason="length",
        prompt_tokens=len(seq.prompt),
        completion_tokens=0,
    )


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
        prompt_logprobs=prompt_logprobs(model, seq),
        finish_reason=finish,
        prompt_tokens=len(seq.prompt),
        completion_tokens=seq.generated,
        queue_s=None if seq.generated != 1 or seq.admitted_at is None else seq.admitted_at - seq.queued_at,
    )

"""One llama.cpp sampler chain per sequence, and logprobs read from the raw logits."""

from __future__ import annotations

import ctypes
import random
from collections.abc import Sequence

import llama_cpp as lc
import numpy as np
import numpy.typing as npt

from deepfort.engines.base import SamplingParams, TokenLogprob, TopLogprob
from deepfort.engines.llamacpp.model import LlamaModel
from deepfort.errors import InvalidRequestError

TOP_K = 40
"""Top-k where neither the request nor the model's ``sampling_defaults`` set one (``top_k: 0`` turns it
off), as llama-server and Ollama default to. A temperature draw over the whole vocabulary costs 0.46 ms a
token on 2 cores, after top-k 40 0.065 ms: without it, 7 of the 11 ms deepfort spent between two
16-stream decode steps of a GGUF served by path (docs/benchmarks.md)."""


class Sampler:
    """Grammar -> penalties -> top-k -> top-p -> min-p -> temperature -> dist (or greedy at temperature 0).

    The order follows llama.cpp's common sampler; top-k comes before the costlier samplers so they work on
    a short candidate list.
    """

    def __init__(self, model: LlamaModel, params: SamplingParams, grammar: str | None) -> None:
        self._chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        add = self._add
        if grammar is not None:
            g = lc.llama_sampler_init_grammar(model.vocab, grammar.encode(), b"root")
            if not g:
                self.close()
                raise InvalidRequestError(
                    "the grammar for response_format could not be built", param="response_format"
                )
            add(g)
        if params.repetition_penalty != 1.0 or params.frequency_penalty or params.presence_penalty:
            add(
                lc.llama_sampler_init_penalties(
                    model.n_vocab,
                    params.penalty_last_n,
                    params.repetition_penalty,
                    params.frequency_penalty,
                    params.presence_penalty,
                )
            )
        if params.temperature <= 0.0:
            add(lc.llama_sampler_init_greedy())
            return
        top_k = TOP_K if params.top_k is None else params.top_k
        if top_k > 0:
            add(lc.llama_sampler_init_top_k(top_k))
        if params.top_p < 1.0:
            add(lc.llama_sampler_init_top_p(params.top_p, 1))
        if params.min_p > 0.0:
            add(lc.llama_sampler_init_min_p(params.min_p, 1))
        add(lc.llama_sampler_init_temp(params.temperature))
        seed = params.seed if params.seed is not None else random.getrandbits(32)
        add(lc.llama_sampler_init_dist(seed & 0xFFFFFFFF))

    def _add(self, sampler: lc.llama_sampler_p) -> None:
        lc.llama_sampler_chain_add(self._chain, sampler)

    def sample(self, ctx: lc.llama_context_p, index: int) -> int:
        """Sample from output ``index`` of the last decode, and accept the token into the chain's state."""
        return int(lc.llama_sampler_sample(self._chain, ctx, index))

    def accept(self, token: int) -> None:
        """Tell the chain about a token we forced (grammar and penalties must see it)."""
        lc.llama_sampler_accept(self._chain, token)

    def close(self) -> None:
        if self._chain:
            lc.llama_sampler_free(self._chain)
            self._chain = None


def logits_at(ctx: lc.llama_context_p, index: int, n_vocab: int) -> npt.NDArray[np.float32]:
    ptr = lc.llama_get_logits_ith(ctx, index)
    arr = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(n_vocab,))
    return arr.copy()


LOGPROB_ROWS = 32
"""Rows of logits turned into log-probabilities at once (a float64 copy of 32 x 152k is 39 MB)."""


def token_logprob(model: LlamaModel, logits: npt.NDArray[np.float32], token: int, top: int) -> TokenLogprob:
    """The chosen token's log-probability under the model (before sampling transforms), plus the top-k."""
    return token_logprobs(model, logits[np.newaxis, :], [token], top)[0]


def token_logprobs(
    model: LlamaModel, logits: npt.NDArray[np.float32], tokens: Sequence[int], top: int
) -> list[TokenLogprob]:
    """:func:`token_logprob` for each row of ``logits`` (one row per token of ``tokens``): the log-softmax
    of the raw logits in float64, the token's entry and the ``top`` most likely."""
    out: list[TokenLogprob] = []
    for start in range(0, len(tokens), LOGPROB_ROWS):
        block = logits[start : start + LOGPROB_ROWS].astype(np.float64)
        block -= block.max(axis=1, keepdims=True)
        block -= np.log(np.exp(block).sum(axis=1, keepdims=True))
        best = np.argpartition(-block, top, axis=1)[:, :top] if top > 0 else None
        for row, token in enumerate(tokens[start : start + LOGPROB_ROWS]):
            logprobs = block[row]
            tops: list[TopLogprob] = []
            if best is not None:
                idx = best[row]
                for t in idx[np.argsort(-logprobs[idx])].tolist():
                    data = model.piece(int(t))
                    tops.append(TopLogprob(data.decode("utf-8", "replace"), float(logprobs[t]), list(data)))
            data = model.piece(token)
            text = data.decode("utf-8", "replace")
            out.append(TokenLogprob(text, float(logprobs[token]), list(data), tops))
    return out

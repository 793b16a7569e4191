"""What ``deepfort quantize`` measures of a GGUF, through llama.cpp in this process: size, bits per
weight, prompt and decode speed, perplexity on a held-out text and one greedy answer.

Perplexity is llama-perplexity's: the text is tokenized whole (with BOS when the vocabulary adds one),
cut into ``len // n_ctx`` windows of ``n_ctx`` tokens (the tail is dropped; at least two windows are
needed, as llama-perplexity requires 2 x n_ctx tokens); each window is decoded from an empty KV cache
(its first token replaced by BOS when the vocabulary adds one) and only its second half is scored: the
logits at positions ``n_ctx/2 .. n_ctx-2`` predict tokens ``n_ctx/2+1 .. n_ctx-1``, so every scored token
sees at least ``n_ctx/2`` tokens of context. PPL = exp(mean negative log-likelihood over all scored
tokens).

Speed is llama-bench's shape: after one short warm-up decode, ``n_prompt`` tokens of the text in one batch
(prompt tokens/s), then ``n_gen`` tokens one at a time, each the previous step's argmax (decode
tokens/s), on the given threads.
"""

from __future__ import annotations

import ctypes
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import llama_cpp as lc
import numpy as np

from deepfort.engines.llamacpp.model import LlamaModel
from deepfort.engines.llamacpp.template import CHATML_TEMPLATE, ChatTemplate
from deepfort.errors import ConfigError

__all__ = ["DEFAULT_QUESTION", "MeasureOptions", "Measurement", "measure_model", "perplexity_windows"]

DEFAULT_QUESTION = "What is the capital of France? Answer in one sentence."
_WARMUP_TOKENS = 8


@dataclass(frozen=True, slots=True)
class MeasureOptions:
    text: str
    n_ctx: int = 512
    threads: int = 1
    n_prompt: int = 512
    n_gen: int = 128
    question: str = DEFAULT_QUESTION
    answer_tokens: int = 48


@dataclass(frozen=True, slots=True)
class Measurement:
    path: str
    size_bytes: int
    """The file on disk."""
    n_params: int
    bits_per_weight: float
    """Tensor bytes x 8 / parameters, as llama.cpp reports it (metadata and vocabulary not counted)."""
    prompt_tps: float
    decode_tps: float
    perplexity: float
    ppl_tokens: int
    """Tokens scored (``windows x (n_ctx - 1 - n_ctx/2)``)."""
    ppl_windows: int
    answer: str
    """The greedy answer to the question."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def perplexity_windows(n_tokens: int, n_ctx: int) -> tuple[int, int]:
    """``(windows, scored tokens)`` for a text of ``n_tokens`` at ``n_ctx``; ConfigError when the text is
    shorter than two windows."""
    if n_ctx < 16:
        raise ConfigError(f"a perplexity window of {n_ctx} tokens is too small (16 at least)")
    if n_tokens < 2 * n_ctx:
        raise ConfigError(
            f"the evaluation text has {n_tokens} tokens; perplexity at a context of {n_ctx} needs at least "
            f"{2 * n_ctx} (two windows): give a longer --eval-text or a smaller --ctx-size"
        )
    windows = n_tokens // n_ctx
    return windows, windows * (n_ctx - 1 - n_ctx // 2)


class _Context:
    """One llama.cpp context over a loaded model, decoding one sequence."""

    def __init__(self, model: LlamaModel, n_ctx: int, n_batch: int, threads: int) -> None:
        params = lc.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = min(n_batch, 512)
        params.n_seq_max = 1
        params.n_threads = threads
        params.n_threads_batch = threads
        params.no_perf = True
        ctx = lc.llama_init_from_model(model.ptr, params)
        if not ctx:
            raise ConfigError(f"llama.cpp could not create a context of {n_ctx} for {model.path}")
        self.ctx = ctx
        self.n_vocab = model.n_vocab
        self.batch = lc.llama_batch_init(n_batch, 0, 1)
        self.n_batch = n_batch

    def close(self) -> None:
        lc.llama_batch_free(self.batch)
        lc.llama_free(self.ctx)

    def clear(self) -> None:
        lc.llama_memory_clear(lc.llama_get_memory(self.ctx), True)

    def decode(self, tokens: list[int], start: int, outputs: range | None = None) -> None:
        """Decode ``tokens`` (one batch) at positions ``start...``, with logits for the indices in
        ``outputs`` (default: the last token only)."""
        if len(tokens) > self.n_batch:
            raise ConfigError(f"{len(tokens)} tokens do not fit one batch of {self.n_batch}")
        wanted = outputs if outputs is not None else range(len(tokens) - 1, len(tokens))
        for n, token in enumerate(tokens):
            self.batch.token[n] = token
            self.batch.pos[n] = start + n
            self.batch.n_seq_id[n] = 1
            self.batch.seq_id[n][0] = 0
            self.batch.logits[n] = 1 if n in wanted else 0
        self.batch.n_tokens = len(tokens)
        status = lc.llama_decode(self.ctx, self.batch)
        if status != 0:
            raise ConfigError(f"llama_decode failed with status {status}")

    def logits(self, index: int) -> np.ndarray[Any, np.dtype[np.float32]]:
        """The logits of batch index ``index`` of the last decode (-1: the last output)."""
        pointer = lc.llama_get_logits_ith(self.ctx, index)
        return np.ctypeslib.as_array(
            ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,)
        )


def _log_softmax_at(logits: np.ndarray[Any, np.dtype[np.float32]], token: int) -> float:
    row = logits.astype(np.float64)
    peak = float(row.max())
    return float(row[token] - peak - math.log(float(np.exp(row - peak).sum())))


def _perplexity(context: _Context, tokens: list[int], n_ctx: int, bos: int | None) -> tuple[float, int, int]:
    windows, _ = perplexity_windows(len(tokens), n_ctx)
    first = n_ctx // 2
    nll = 0.0
    count = 0
    for window in range(windows):
        chunk = tokens[window * n_ctx : (window + 1) * n_ctx]
        if bos is not None:
            chunk = [bos, *chunk[1:]]
        context.clear()
        context.decode(chunk, 0, outputs=range(first, n_ctx - 1))
        for position in range(first, n_ctx - 1):
            nll -= _log_softmax_at(context.logits(position), chunk[position + 1])
            count += 1
    return math.exp(nll / count), count, windows


def _speed(context: _Context, tokens: list[int], n_prompt: int, n_gen: int) -> tuple[float, float]:
    prompt = (tokens * (n_prompt // max(len(tokens), 1) + 1))[:n_prompt]
    context.clear()
    context.decode(prompt[:_WARMUP_TOKENS], 0)
    context.clear()
    started = time.perf_counter()
    context.decode(prompt, 0)
    prompt_s = time.perf_counter() - started
    token = int(np.argmax(context.logits(-1)))
    started = time.perf_counter()
    for step in range(n_gen):
        context.decode([token], n_prompt + step)
        token = int(np.argmax(context.logits(-1)))
    decode_s = time.perf_counter() - started
    return n_prompt / prompt_s, n_gen / max(decode_s, 1e-9)


def _answer(context: _Context, model: LlamaModel, question: str, limit: int) -> str:
    template = ChatTemplate(
        model.chat_template or CHATML_TEMPLATE,
        bos_token=model.special_text(model.bos),
        eos_token=model.special_text(model.eos),
    )
    prompt = template.render([{"role": "user", "content": question}])
    bos_text = model.special_text(model.bos)
    tokens = model.tokenize(prompt, add_special=not (bos_text and prompt.startswith(bos_text)))
    context.clear()
    context.decode(tokens, 0)
    answer: list[int] = []
    for _ in range(limit):
        token = int(np.argmax(context.logits(-1)))
        if model.is_eog(token):
            break
        answer.append(token)
        context.decode([token], len(tokens) + len(answer) - 1)
    return model.detokenize(answer).strip()


def measure_model(path: Path, options: MeasureOptions) -> Measurement:
    """Load ``path`` and measure it (see the module's docstring for how)."""
    model = LlamaModel(path)
    try:
        tokens = model.tokenize(options.text, add_special=model.add_bos, parse_special=False)
        perplexity_windows(len(tokens), options.n_ctx)
        n_cells = max(options.n_ctx, options.n_prompt + options.n_gen + 1, 256)
        n_batch = max(options.n_ctx, options.n_prompt)
        context = _Context(model, n_cells, n_batch, options.threads)
        try:
            prompt_tps, decode_tps = _speed(context, tokens, options.n_prompt, options.n_gen)
            answer = _answer(context, model, options.question, options.answer_tokens)
            bos = model.bos if model.add_bos else None
            ppl, scored, windows = _perplexity(context, tokens, options.n_ctx, bos)
        finally:
            context.close()
        return Measurement(
            path=str(path),
            size_bytes=path.stat().st_size,
            n_params=model.n_params,
            bits_per_weight=model.size_bytes * 8 / max(model.n_params, 1),
            prompt_tps=prompt_tps,
            decode_tps=decode_tps,
            perplexity=ppl,
            ppl_tokens=scored,
            ppl_windows=windows,
            answer=answer,
        )
    finally:
        model.close()

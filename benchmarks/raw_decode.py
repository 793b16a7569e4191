"""The ceiling: a bare llama.cpp decode loop over the same GGUF, no server, no deepfort scheduler.

One sequence, greedy, the same prompt as single_stream.py; prints prompt time and decode tokens/s.

    python benchmarks/raw_decode.py [--model PATH] [--tokens 128] [--threads N] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import llama_cpp as lc

from deepfort.catalog import embedded_model_path
from deepfort.engines.llamacpp.model import LlamaModel

PROMPT = "<|im_start|>user\nWrite a short story about a lighthouse keeper.<|im_end|>\n<|im_start|>assistant\n"


def run_once(model: LlamaModel, tokens: int, threads: int) -> tuple[float, float]:
    params = lc.llama_context_default_params()
    params.n_ctx = 4096
    params.n_batch = params.n_ubatch = 512
    params.n_seq_max = 1
    params.n_threads = params.n_threads_batch = threads
    params.no_perf = True
    ctx = lc.llama_init_from_model(model.ptr, params)
    batch = lc.llama_batch_init(512, 0, 1)
    chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
    try:
        prompt = model.tokenize(PROMPT)
        for i, token in enumerate(prompt):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, i, 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = 1 if i == len(prompt) - 1 else 0
        batch.n_tokens = len(prompt)
        start = time.perf_counter()
        lc.llama_decode(ctx, batch)
        token = lc.llama_sampler_sample(chain, ctx, len(prompt) - 1)
        first = time.perf_counter()
        for step in range(tokens - 1):
            batch.token[0], batch.pos[0], batch.n_seq_id[0] = token, len(prompt) + step, 1
            batch.seq_id[0][0] = 0
            batch.logits[0] = 1
            batch.n_tokens = 1
            lc.llama_decode(ctx, batch)
            token = lc.llama_sampler_sample(chain, ctx, 0)
        end = time.perf_counter()
        return first - start, (tokens - 1) / (end - first)
    finally:
        lc.llama_sampler_free(chain)
        lc.llama_batch_free(batch)
        lc.llama_free(ctx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    model = LlamaModel(args.model or embedded_model_path())
    runs = [run_once(model, args.tokens, args.threads) for _ in range(args.runs)]
    print(
        json.dumps(
            {
                "prompt_ms_p50": round(statistics.median(r[0] for r in runs) * 1000, 1),
                "decode_tokens_per_s_p50": round(statistics.median(r[1] for r in runs), 1),
                "threads": args.threads,
                "tokens": args.tokens,
            }
        )
    )
    model.close()


if __name__ == "__main__":
    main()

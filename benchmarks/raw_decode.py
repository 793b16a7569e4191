"""The ceiling: a bare llama.cpp decode loop over the same GGUF, no server, no deepfort scheduler.

Greedy, the same prompt as single_stream.py; prints prompt time and decode tokens/s. With ``--parallel N``
it decodes N sequences together, each with its own copy of the prompt, in one unified KV cache: the
prompts go in one batch, then every step is one ``llama_decode`` over a batch holding the next token of
every sequence, and the reported decode speed is the aggregate over all N (EOS is ignored, so every
sequence makes exactly ``--tokens`` tokens). This is what a batching server could reach on the machine.
``--split-kv`` gives each sequence its own KV stream instead (llama.cpp's ``kv_unified=False``).

    python benchmarks/raw_decode.py [--model PATH] [--tokens 128] [--threads N] [--runs 5] [--parallel 1]
        [--split-kv]
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
MARGIN = 16  # spare KV cells per sequence


def run_once(
    model: LlamaModel, tokens: int, threads: int, parallel: int = 1, split_kv: bool = False
) -> tuple[float, float]:
    """(seconds to decode the prompts and sample the first tokens, aggregate decode tokens/s)."""
    prompt = model.tokenize(PROMPT)
    n_prompt = len(prompt)
    batch_size = max(512, parallel * n_prompt)
    params = lc.llama_context_default_params()
    params.n_ctx = 4096 if parallel == 1 else parallel * (n_prompt + tokens + MARGIN)
    params.n_batch = batch_size
    params.n_ubatch = 512
    params.n_seq_max = parallel
    # Unified: one pool of cells that every sequence's attention scans (masked), as deepfort's engine
    # has; split: each sequence attends only its own n_ctx / parallel cells, as llama-server's slots.
    params.kv_unified = not split_kv
    params.n_threads = params.n_threads_batch = threads
    params.no_perf = True
    ctx = lc.llama_init_from_model(model.ptr, params)
    if not ctx:
        raise SystemExit(f"llama.cpp could not create a context (n_ctx={params.n_ctx})")
    batch = lc.llama_batch_init(batch_size, 0, parallel)
    chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
    try:
        for seq in range(parallel):
            for i, token in enumerate(prompt):
                j = seq * n_prompt + i
                batch.token[j], batch.pos[j], batch.n_seq_id[j] = token, i, 1
                batch.seq_id[j][0] = seq
                batch.logits[j] = 1 if i == n_prompt - 1 else 0
        batch.n_tokens = parallel * n_prompt
        start = time.perf_counter()
        if lc.llama_decode(ctx, batch) != 0:
            raise SystemExit("llama_decode failed on the prompts")
        last = [lc.llama_sampler_sample(chain, ctx, (seq + 1) * n_prompt - 1) for seq in range(parallel)]
        first = time.perf_counter()
        for step in range(tokens - 1):
            for seq in range(parallel):
                batch.token[seq], batch.pos[seq], batch.n_seq_id[seq] = last[seq], n_prompt + step, 1
                batch.seq_id[seq][0] = seq
                batch.logits[seq] = 1
            batch.n_tokens = parallel
            if lc.llama_decode(ctx, batch) != 0:
                raise SystemExit(f"llama_decode failed at step {step}")
            last = [lc.llama_sampler_sample(chain, ctx, seq) for seq in range(parallel)]
        end = time.perf_counter()
        return first - start, parallel * (tokens - 1) / (end - first)
    finally:
        lc.llama_sampler_free(chain)
        lc.llama_batch_free(batch)
        lc.llama_free(ctx)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=1, help="sequences decoded together")
    parser.add_argument("--split-kv", action="store_true", help="one KV stream per sequence, not unified")
    args = parser.parse_args()
    if args.parallel < 1 or args.tokens < 2:
        parser.error("--parallel must be at least 1 and --tokens at least 2")
    model = LlamaModel(args.model or embedded_model_path())
    runs = [
        run_once(model, args.tokens, args.threads, args.parallel, args.split_kv) for _ in range(args.runs)
    ]
    result: dict[str, object] = {
        "prompt_ms_p50": round(statistics.median(r[0] for r in runs) * 1000, 1),
        "decode_tokens_per_s_p50": round(statistics.median(r[1] for r in runs), 1),
        "threads": args.threads,
        "tokens": args.tokens,
    }
    if args.parallel > 1:
        aggregate = statistics.median(r[1] for r in runs)
        result["parallel"] = args.parallel
        result["kv"] = "split" if args.split_kv else "unified"
        result["per_sequence_tokens_per_s_p50"] = round(aggregate / args.parallel, 1)
        result["step_ms_p50"] = round(1000 * args.parallel / aggregate, 2)
    print(json.dumps(result))
    model.close()


if __name__ == "__main__":
    main()

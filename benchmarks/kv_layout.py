"""One decode step over 16 sequences in llama.cpp's two KV layouts, and how the batch's order matters.

For each case a fresh context is made, every sequence's context of ``--length`` tokens is computed, and
then ``--steps`` steps decode one token of every sequence together; the median step (after 5 warm-up
steps) is printed in ms. Cases:

- ``per-slot``: one KV stream per sequence (``kv_unified=false``, llama-server's ``-np`` layout), the
  batch in sequence-id order;
- ``per-slot shuffled``: the same, the batch in a new random order every step;
- ``per-slot gaps``: 16 of 20 streams in use, with gaps between the ids in use;
- ``unified``: one pool for all sequences (``kv_unified=true``): each token's attention spans every
  sequence's cells up to the highest in use, masked.

With a stream per sequence llama.cpp puts only consecutive sequence ids, in increasing order in the
batch, into one compute (``split_equal`` with ``sequential``), and starts another at every break.

    python benchmarks/kv_layout.py [--length 100,1000] [--steps 25] [--rounds 2] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import llama_cpp as lc

from deepfort.catalog import embedded_model_path
from deepfort.engines.llamacpp.model import LlamaModel

CELLS_PER_STREAM = 4096
WARMUP_STEPS = 5


def step_ms(
    model: LlamaModel,
    *,
    unified: bool,
    streams: int,
    active: list[int],
    shuffle: bool,
    length: int,
    steps: int,
    threads: int,
) -> float:
    params = lc.llama_context_default_params()
    params.n_ctx = CELLS_PER_STREAM * streams
    params.n_batch = params.n_ubatch = 512
    params.n_seq_max = streams
    params.kv_unified = unified
    params.n_threads = params.n_threads_batch = threads
    params.no_perf = True
    ctx = lc.llama_init_from_model(model.ptr, params)
    if not ctx:
        raise SystemExit("llama.cpp could not create a context")
    batch = lc.llama_batch_init(512, 0, 1)
    rng = random.Random(0)
    try:
        for seq in active:  # each sequence's context, in chunks of the batch size
            for start in range(0, length, 512):
                n = min(512, length - start)
                for i in range(n):
                    batch.token[i], batch.pos[i], batch.n_seq_id[i] = 100 + (start + i) % 1000, start + i, 1
                    batch.seq_id[i][0], batch.logits[i] = seq, 0
                batch.n_tokens = n
                if lc.llama_decode(ctx, batch) != 0:
                    raise SystemExit("llama_decode failed on a context")
        order = list(active)
        times = []
        for step in range(steps):
            if shuffle:
                rng.shuffle(order)
            for i, seq in enumerate(order):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = 200, length + step, 1
                batch.seq_id[i][0], batch.logits[i] = seq, 1
            batch.n_tokens = len(order)
            start_t = time.perf_counter()
            if lc.llama_decode(ctx, batch) != 0:
                raise SystemExit(f"llama_decode failed at step {step}")
            times.append(time.perf_counter() - start_t)
        return statistics.median(times[WARMUP_STEPS:]) * 1000
    finally:
        lc.llama_batch_free(batch)
        lc.llama_free(ctx)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--length", default="100,1000", help="comma-separated context lengths")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    model = LlamaModel(embedded_model_path())
    gaps = [0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18, 19]
    cases = {
        "per-slot": (False, 16, list(range(16)), False),
        "per-slot shuffled": (False, 16, list(range(16)), True),
        "per-slot gaps": (False, 20, gaps, False),
        "unified": (True, 16, list(range(16)), False),
    }
    print("| context tokens | layout | step ms, median of each round |")
    print("| --- | --- | --- |")
    for length in (int(x) for x in args.length.split(",")):
        results: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):  # interleaved: the machine's speed drifts
            for name, (unified, streams, active, shuffle) in cases.items():
                ms = step_ms(
                    model,
                    unified=unified,
                    streams=streams,
                    active=active,
                    shuffle=shuffle,
                    length=length,
                    steps=args.steps,
                    threads=args.threads,
                )
                results[name].append(ms)
        for name, values in results.items():
            print(f"| {length} | {name} | {', '.join(f'{v:.1f}' for v in values)} |", flush=True)
    model.close()


if __name__ == "__main__":
    main()

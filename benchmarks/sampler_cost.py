"""What sampling one token costs with deepfort's llama.cpp sampler chain, for a few settings.

Decodes one chat prompt on the embedded model (or ``--model``), then times ``Sampler.sample`` on its
logits ``--repeat`` times per setting and prints the mean in milliseconds. At 16 streams a decode step
samples 16 times, so a chain that sorts the whole vocabulary shows up in every step.

    python benchmarks/sampler_cost.py [--model GGUF] [--repeat 200]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import llama_cpp as lc

from deepfort.catalog import embedded_model_path
from deepfort.engines.base import SamplingParams
from deepfort.engines.llamacpp.model import LlamaModel
from deepfort.engines.llamacpp.sampler import Sampler

PROMPT = "<|im_start|>user\nWrite a short story about a lighthouse keeper.<|im_end|>\n<|im_start|>assistant\n"
SETTINGS = {
    "temperature 0.7, top-p 0.9": SamplingParams(temperature=0.7, top_p=0.9),
    "temperature 0.7, top-k 40, top-p 0.9": SamplingParams(temperature=0.7, top_p=0.9, top_k=40),
    "temperature 0.7": SamplingParams(temperature=0.7),
    "greedy": SamplingParams(temperature=0.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    model = LlamaModel(args.model or embedded_model_path())
    params = lc.llama_context_default_params()
    params.n_ctx, params.n_threads = 512, 2
    ctx = lc.llama_init_from_model(model.ptr, params)
    tokens = model.tokenize(PROMPT, add_special=False)
    batch = lc.llama_batch_init(len(tokens), 0, 1)
    for i, token in enumerate(tokens):
        batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, i, 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = i == len(tokens) - 1
    batch.n_tokens = len(tokens)
    if lc.llama_decode(ctx, batch) != 0:
        raise SystemExit("llama_decode failed")
    print(f"| sampling ({model.n_vocab:,}-token vocabulary) | ms per token |")
    print("| --- | --- |")
    for name, sampling in SETTINGS.items():
        sampler = Sampler(model, sampling, None)
        start = time.perf_counter()
        for _ in range(args.repeat):
            sampler.sample(ctx, len(tokens) - 1)
        print(f"| {name} | {1000 * (time.perf_counter() - start) / args.repeat:.3f} |")
        sampler.close()
    lc.llama_batch_free(batch)
    lc.llama_free(ctx)


if __name__ == "__main__":
    main()

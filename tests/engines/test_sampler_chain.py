"""The llama.cpp sampler chain a request gets: top-k 40 where nothing sets top_k, as llama-server and
Ollama default to (a draw over the whole vocabulary costs about seven times as much), off with 0."""

from __future__ import annotations

from collections.abc import Iterator

import llama_cpp as lc
import pytest

from deepfort.catalog import embedded_model_path
from deepfort.engines.base import SamplingParams
from deepfort.engines.llamacpp.model import LlamaModel
from deepfort.engines.llamacpp.sampler import Sampler


@pytest.fixture(scope="module")
def vocab() -> Iterator[LlamaModel]:
    model = LlamaModel(embedded_model_path(), vocab_only=True)
    yield model
    model.close()


def chain(model: LlamaModel, **params: object) -> list[str]:
    sampler = Sampler(model, SamplingParams(**params), None)  # type: ignore[arg-type]
    try:
        handle = sampler._chain
        return [
            lc.llama_sampler_name(lc.llama_sampler_chain_get(handle, i)).decode()
            for i in range(lc.llama_sampler_chain_n(handle))
        ]
    finally:
        sampler.close()


def test_top_k_40_unless_set(vocab: LlamaModel) -> None:
    assert chain(vocab, temperature=0.7) == ["top-k", "temp", "dist"]
    assert chain(vocab, temperature=0.7, top_k=0) == ["temp", "dist"]
    assert chain(vocab, temperature=0.7, top_k=5, top_p=0.9) == ["top-k", "top-p", "temp", "dist"]
    assert chain(vocab, temperature=0) == ["greedy"]

"""The host-memory prompt cache on the real embedded model: with one slot, a second prompt takes the slot
of the first; the first's cells are kept in host memory and copied back when it is asked again, and the
greedy answer is the same as computed from scratch."""

from __future__ import annotations

import asyncio

import pytest

from deepfort.config import LocalModel, ServerSettings
from deepfort.engines.base import EngineRequest, SamplingParams
from deepfort.engines.llamacpp.engine import LlamaCppEngine

pytestmark = pytest.mark.slow

SYSTEM = "<|im_start|>system\nYou answer questions about the hospital's opening hours briefly.<|im_end|>\n"


def prompt(question: str) -> str:
    return f"{SYSTEM}<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


async def answer(engine: LlamaCppEngine, rid: str, text: str, *, cache: bool = True) -> tuple[str, int]:
    request = EngineRequest(
        request_id=rid,
        prompt=text,
        max_tokens=24,
        sampling=SamplingParams(temperature=0.0),
        add_special=False,
        cache_prompt=cache,
    )
    before = engine.stats().prefix_cache_tokens_total
    parts = [delta.text async for delta in engine.generate(request)]
    return "".join(parts), engine.stats().prefix_cache_tokens_total - before


@pytest.mark.parametrize("budget_mib", [256, 0])
def test_a_prompt_whose_slot_was_taken_comes_back_from_host_memory(budget_mib: int) -> None:
    async def run() -> None:
        spec = LocalModel(id="smol", n_parallel=1, n_ctx=512, prompt_cache_mib=budget_mib)
        engine = LlamaCppEngine(spec, ServerSettings())
        await engine.start()
        try:
            first = prompt("When does the pharmacy open on Sundays?")
            n_first = len(engine.tokenize(first, add_special=False))
            fresh, reused = await answer(engine, "a", first, cache=False)
            assert reused == 0
            await answer(engine, "b", first)  # leaves `first` in the slot's cache
            other, _ = await answer(engine, "c", prompt("Is the cafeteria open at night?"))
            assert other and other != fresh
            again, reused = await answer(engine, "d", first)  # its slot now holds the other prompt
            assert again == fresh  # the restored cells give the same greedy answer
            if budget_mib:
                assert reused == n_first - 1  # all but the last token, which must be computed
            else:
                assert reused < n_first - 10  # only the shared system prompt, from the slot's own cache
        finally:
            await engine.close()

    asyncio.run(run())

"""The host-memory prompt cache on the real embedded model: with one slot, a second prompt takes the slot
of the first; the first's cells are kept in host memory and copied back when it is asked again, and the
greedy answer is the same as computed from scratch."""

from __future__ import annotations

import asyncio

import pytest

from deepfort.config import LocalModel, ServerSettings
from deepfort.engines.base import EngineRequest, SamplingParams
from deepfort.engines.llamacpp.engine import LlamaCppEngine
from deepfort.engines.llamacpp.planner import Reuse
from deepfort.engines.llamacpp.sequence import Seq
from deepfort.errors import EngineError

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


def test_a_kept_cache_pushed_out_while_it_is_restored_does_not_stop_the_engine() -> None:
    """With room in host memory for one kept cache only (2 MiB), restoring prompt A into the slot first
    keeps the slot's own cache (prompt B), which pushes A out of host memory while it is being copied
    back. The engine must answer (it used to die with a KeyError in its scheduler thread, leaving every
    request waiting forever)."""

    async def run() -> None:
        spec = LocalModel(id="smol", n_parallel=1, n_ctx=512, prompt_cache_mib=2)
        engine = LlamaCppEngine(spec, ServerSettings())
        await engine.start()
        try:
            # About 23 KB of state a token: each cache (50-60 tokens) fits in 2 MiB, both do not.
            short = (
                "<|im_start|>system\nAnswer briefly.<|im_end|>\n"
                "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
            )
            a = short.format(
                "When does the pharmacy near the main entrance open on Sundays and on public holidays?"
            )
            b = short.format(
                "Is the cafeteria on the ground floor of the east wing open at night for visitors?"
            )
            fresh, _ = await answer(engine, "a0", a, cache=False)
            await answer(engine, "a1", a)  # A in the slot
            await answer(engine, "b1", b)  # A to host memory, B in the slot
            again, _ = await asyncio.wait_for(answer(engine, "a2", a), timeout=120)
            assert again == fresh
            assert (await asyncio.wait_for(answer(engine, "b2", b), timeout=120))[0]
        finally:
            await engine.close()

    asyncio.run(run())


def test_a_request_that_fails_to_start_fails_alone() -> None:
    """Whatever goes wrong while a request takes its slot fails that request with an error, and the
    engine goes on answering the next ones."""

    async def run() -> None:
        engine = LlamaCppEngine(LocalModel(id="smol", n_parallel=1, n_ctx=512), ServerSettings())
        await engine.start()
        slots = engine._scheduler.slots
        real = slots.acquire

        def acquire(seq: Seq, reuse: Reuse, *, need: int) -> None:
            if seq.request.request_id == "boom":
                raise RuntimeError("cannot copy the cache")
            real(seq, reuse, need=need)

        slots.acquire = acquire  # type: ignore[method-assign]
        try:
            with pytest.raises(EngineError, match="cannot copy the cache"):
                await asyncio.wait_for(answer(engine, "boom", prompt("Where is the pharmacy?")), timeout=60)
            text, _ = await asyncio.wait_for(
                answer(engine, "next", prompt("Where is the pharmacy?")), timeout=60
            )
            assert text
        finally:
            await engine.close()

    asyncio.run(run())

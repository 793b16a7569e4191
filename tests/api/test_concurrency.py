"""Many clients at once: every stream completes with its own text; overload gets 503 + Retry-After."""

from __future__ import annotations

import asyncio

import httpx
import openai

from tests.conftest import Server

PROMPTS = [
    "What is the capital of France?",
    "Name three colours.",
    "What is 2 + 2?",
    "Say hello in Spanish.",
    "What is the largest planet?",
    "Write a haiku about rain.",
    "What do bees make?",
    "Name a famous painter.",
    "What is water made of?",
    "How many legs does a spider have?",
    "What is the opposite of hot?",
    "Name a fruit that is yellow.",
    "What language is spoken in Brazil?",
    "What is the boiling point of water?",
    "Who wrote Hamlet?",
    "What is the square root of 9?",
]


async def _stream(client: openai.AsyncOpenAI, model: str, prompt: str) -> tuple[str, str | None]:
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], max_tokens=24, temperature=0, stream=True
    )
    parts: list[str] = []
    finish = None
    async for chunk in stream:
        for choice in chunk.choices:
            parts.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    return "".join(parts), finish


def test_sixteen_concurrent_streams_equal_single_runs(server: Server) -> None:
    # One slot: concurrency is safe queueing, and each answer equals the one its prompt gets alone.
    model = "smol-1slot"

    async def run() -> tuple[list[tuple[str, str | None]], list[tuple[str, str | None]]]:
        async with openai.AsyncOpenAI(
            base_url=server.v1, api_key="unused", max_retries=0, timeout=300
        ) as client:
            alone = [await _stream(client, model, p) for p in PROMPTS]
            together = await asyncio.gather(*[_stream(client, model, p) for p in PROMPTS])
            return alone, list(together)

    alone, together = asyncio.run(run())
    assert all(text for text, _ in alone)
    assert all(finish in ("stop", "length") for _, finish in together)
    assert together == alone


def test_batched_streams_all_complete(server: Server) -> None:
    # Four slots decode together; sixteen clients share them through the queue.
    async def run() -> list[tuple[str, str | None]]:
        async with openai.AsyncOpenAI(
            base_url=server.v1, api_key="unused", max_retries=0, timeout=300
        ) as client:
            return list(await asyncio.gather(*[_stream(client, "smollm2-135m", p) for p in PROMPTS]))

    before = server.stats("smollm2-135m")
    results = asyncio.run(run())
    after = server.stats("smollm2-135m")
    assert all(text and finish in ("stop", "length") for text, finish in results)
    assert after["finished_total"] - before["finished_total"] == len(PROMPTS)
    assert after["running"] == 0 and after["waiting"] == 0


def test_queue_full_answers_503_with_retry_after(server: Server) -> None:
    model = "smol-q1"  # one slot, one queue place
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Tell a long story."}],
        "max_tokens": 400,
    }
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as running:
            assert running.status_code == 200
            lines = running.iter_lines()
            # Wait until the first request holds the slot (its first token arrived).
            content_seen = 0
            for line in lines:
                if '"content":"' in line and '"content":""' not in line:
                    content_seen += 1
                    break
            assert content_seen
            with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as queued:
                assert queued.status_code == 200  # accepted into the one queue place
                rejected = client.post("/v1/chat/completions", json=body)
                assert rejected.status_code == 503
                assert rejected.headers["retry-after"] == "1"
                error = rejected.json()["error"]
                assert error["type"] == "service_unavailable" and error["code"] == "queue_full"
                assert server.stats(model)["rejected_total"] >= 1
    # Both streams were closed early: the engine frees the slot and serves again.
    ok = httpx.post(f"{server.v1}/chat/completions", json={**body, "max_tokens": 4}, timeout=120)
    assert ok.status_code == 200

"""Continuous batching: many sequences share one llama.cpp context without mixing up their outputs."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
import openai

from tests.conftest import Server
from tests.helpers import read_tokens, same_or_rounding, wait_until

MODEL = "smollm2-135m"  # four slots


def test_thirty_two_mixed_requests_complete_with_correct_usage(server: Server) -> None:
    rng = random.Random(11)
    settings = [
        {
            "max_tokens": rng.randint(3, 40),
            "temperature": rng.choice([0.0, 0.5, 0.9, 1.3]),
            "top_p": rng.choice([1.0, 0.9, 0.5]),
            "seed": rng.randint(0, 10_000),
            "extra_body": {"top_k": rng.choice([0, 10, 40]), "min_p": rng.choice([0.0, 0.05])},
        }
        for _ in range(32)
    ]

    async def one(client: openai.AsyncOpenAI, i: int) -> tuple[int, str | None, int, int]:
        kwargs = settings[i]
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"Question number {i}: name an animal."}],
            stream=True,
            logprobs=True,
            stream_options={"include_usage": True},
            **kwargs,  # type: ignore[arg-type]
        )
        finish = None
        tokens = 0
        usage = None
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                if choice.logprobs and choice.logprobs.content:
                    tokens += len(choice.logprobs.content)
        assert usage is not None
        return i, finish, tokens, usage.completion_tokens

    async def run() -> list[tuple[int, str | None, int, int]]:
        async with openai.AsyncOpenAI(
            base_url=server.v1, api_key="unused", max_retries=0, timeout=600
        ) as client:
            return list(await asyncio.gather(*[one(client, i) for i in range(32)]))

    for i, finish, tokens, completion_tokens in asyncio.run(run()):
        limit = int(settings[i]["max_tokens"])  # type: ignore[call-overload]
        assert finish in ("stop", "length")
        assert tokens == completion_tokens  # one logprob entry per generated token
        if finish == "length":
            assert completion_tokens == limit
        else:
            assert 1 <= completion_tokens <= limit


def test_no_cross_talk_between_constrained_requests(server: Server) -> None:
    nonces = [f"n{random.Random(i).randrange(10**6):06d}" for i in range(16)]

    async def one(client: httpx.AsyncClient, nonce: str) -> str:
        schema = {
            "type": "object",
            "properties": {"id": {"const": nonce}},
            "required": ["id"],
            "additionalProperties": False,
        }
        reply = await client.post(
            "/chat/completions",
            json={
                "model": MODEL,
                "messages": [{"role": "user", "content": "Reply with your id as JSON."}],
                "max_tokens": 30,
                "temperature": 0.7,
                "response_format": {"type": "json_schema", "json_schema": {"name": "id", "schema": schema}},
            },
        )
        assert reply.status_code == 200, reply.text
        return str(json.loads(reply.json()["choices"][0]["message"]["content"])["id"])

    async def run() -> list[str]:
        async with httpx.AsyncClient(base_url=server.v1, timeout=600) as client:
            return list(await asyncio.gather(*[one(client, n) for n in nonces]))

    assert asyncio.run(run()) == nonces


def _greedy(server: Server, model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    reply = httpx.post(
        f"{server.v1}/chat/completions",
        json={
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": 2,
        },
        timeout=600,
    )
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()
    return data


def test_preempted_requests_finish_complete_and_correct(server: Server) -> None:
    model = "smol-tight"  # 4 slots over ~640 cells: four 40-token prompts growing to 240 tokens overflow
    prompts = [f"Tell a very long story about dragon number {i}." for i in range(4)]
    alone = [_greedy(server, model, p, 200) for p in prompts]
    before = server.stats(model)

    async def run() -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(*[asyncio.to_thread(_greedy, server, model, p, 200) for p in prompts])
        )

    together = asyncio.run(run())
    after = server.stats(model)
    assert after["preemptions_total"] > before["preemptions_total"]
    for solo, batched in zip(alone, together, strict=True):
        assert batched["usage"] == solo["usage"]
        assert batched["choices"][0]["finish_reason"] == solo["choices"][0]["finish_reason"] == "length"
        same_or_rounding(solo, batched)
    assert after["kv_cells_used"] == 0


def test_cancelling_one_stream_frees_its_cells_while_others_stream(server: Server) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Tell a very long story."}],
        "max_tokens": 1000,
        "temperature": 0,  # greedy: a long answer every time
        "stream": True,
    }

    with httpx.Client(base_url=server.base_url, timeout=300) as client:
        with (
            client.stream("POST", "/v1/chat/completions", json=body) as keep,
            client.stream("POST", "/v1/chat/completions", json=body) as drop,
        ):
            keep_lines = keep.iter_lines()
            drop_lines = drop.iter_lines()
            read_tokens(keep_lines, 5)
            read_tokens(drop_lines, 5)
            wait_until(lambda: server.stats(MODEL)["running"] == 2, "both running")
            held = server.stats(MODEL)["kv_cells_used"]
            drop.close()
            wait_until(lambda: server.stats(MODEL)["running"] == 1, "dropped stream cancelled")
            after = server.stats(MODEL)
            # The survivor has grown meanwhile, but the cancelled one's cells are gone.
            assert after["kv_cells_used"] < held
            read_tokens(keep_lines, 20)  # the other stream goes on
    wait_until(lambda: server.stats(MODEL)["kv_cells_used"] == 0, "all cells free")


def _ask_with_system(server: Server, system: str, question: str, cache: bool) -> dict[str, Any]:
    reply = httpx.post(
        f"{server.v1}/chat/completions",
        json={
            "model": MODEL,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
            "max_tokens": 24,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": 2,
            "cache_prompt": cache,
        },
        timeout=300,
    )
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()
    return data


def test_prefix_reuse_hits_and_keeps_greedy_output(server: Server) -> None:
    system = "You are a careful assistant for a hospital. " * 20  # a long shared system prompt

    def ask(question: str, cache: bool) -> dict[str, Any]:
        return _ask_with_system(server, system, question, cache)

    uncached = ask("What should I do about a headache?", cache=False)
    ask("Where is the pharmacy?", cache=True)  # leaves the system prompt in the cache
    before = server.stats(MODEL)
    cached = ask("What should I do about a headache?", cache=True)
    after = server.stats(MODEL)
    assert after["prefix_cache_hits_total"] == before["prefix_cache_hits_total"] + 1
    assert after["prefix_cache_tokens_total"] - before["prefix_cache_tokens_total"] >= 150
    # The reused cells were computed in another batch than a fresh prefill would use: equal greedy
    # output, up to the rounding that same_or_rounding allows.
    same_or_rounding(uncached, cached)


def test_prefix_of_a_running_sequence_is_copied_into_another_slot(server: Server) -> None:
    """With a KV stream per slot (this model's layout), a request sharing a running request's long prefix
    gets those cells copied into its own slot's stream, and answers as a fresh prefill would."""
    system = "You answer questions about the railway timetable of a small town. " * 16
    details = httpx.get(f"{server.v1}/models/{MODEL}", timeout=10).json()["details"]
    assert (details["kv_unified"], details["kv_cells"]) == (False, 4 * 2048)
    question = "When does the first train leave?"
    uncached = _ask_with_system(server, system, question, cache=False)
    body = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": "Tell a long story."},
        ],
        "max_tokens": 400,
        "temperature": 0.8,
        "seed": 7,
        "stream": True,
    }
    with httpx.stream("POST", f"{server.v1}/chat/completions", json=body, timeout=300) as running:
        lines = running.iter_lines()
        next(line for line in lines if line.startswith("data: ") and '"content"' in line)  # it decodes
        before = server.stats(MODEL)
        cached = _ask_with_system(server, system, question, cache=True)
        after = server.stats(MODEL)
        assert server.stats(MODEL)["running"] >= 1  # the long one was still running throughout
    assert after["prefix_cache_hits_total"] == before["prefix_cache_hits_total"] + 1
    assert after["prefix_cache_tokens_total"] - before["prefix_cache_tokens_total"] >= 150
    same_or_rounding(uncached, cached)

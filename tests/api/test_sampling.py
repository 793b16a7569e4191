"""Sampling parameters change what the real engine writes (embedded model, real server): seeds decide the
draw, the truncating samplers (top_k, top_p, min_p) narrow it down to greedy, and the penalties break a
repetition. Every row that expects greedy text has a control that shows the same request without the
narrowing parameter does not give it, so a sampler hard-wired to greedy fails this file."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Server

MODEL = "smollm2-135m"
PROMPT = "My favourite animal is"
MAX_TOKENS = 16
HOT = 1.5  # temperature high enough that an unconstrained draw leaves the greedy path within MAX_TOKENS


def complete(server: Server, **params: object) -> list[dict[str, object]]:
    """A text completion of ``PROMPT`` unless ``params`` gives another ``prompt``."""
    # Every prompt computed afresh: a prefix taken from the cache is computed in another batch shape, and
    # the last float digit of a logit can then tip a greedy choice (the session's server is shared).
    body = {"model": MODEL, "prompt": PROMPT, "max_tokens": MAX_TOKENS, "cache_prompt": False, **params}
    reply = httpx.post(f"{server.v1}/completions", json=body, timeout=120)
    assert reply.status_code == 200, reply.text
    choices: list[dict[str, object]] = reply.json()["choices"]
    return choices


def text(server: Server, **params: object) -> str:
    return str(complete(server, **params)[0]["text"])


def test_temperature_0_takes_the_most_likely_token_every_time(server: Server) -> None:
    choice = complete(server, temperature=0, seed=1, logprobs=1)[0]
    logprobs = choice["logprobs"]
    assert isinstance(logprobs, dict)
    for token, chosen, top in zip(
        logprobs["tokens"], logprobs["token_logprobs"], logprobs["top_logprobs"], strict=True
    ):
        assert chosen == pytest.approx(max(top.values())), (token, top)
    # The seed plays no part in a greedy answer.
    assert text(server, temperature=0, seed=2) == choice["text"]


def test_same_seed_same_text_other_seeds_other_texts(server: Server) -> None:
    first = text(server, temperature=1, seed=7)
    assert text(server, temperature=1, seed=7) == first
    others = {text(server, temperature=1, seed=seed) for seed in (8, 9, 10)}
    assert len(others | {first}) == 4, others


def test_n_choices_differ(server: Server) -> None:
    for params in ({"seed": 3}, {}):
        choices = complete(server, n=2, temperature=1, **params)
        assert choices[0]["text"] != choices[1]["text"], (params, choices)
    # Choice i of a seeded request is drawn with seed + i: the first matches a single request's.
    assert complete(server, n=2, temperature=1, seed=3)[0]["text"] == text(server, temperature=1, seed=3)


@pytest.mark.parametrize(
    "narrowing",
    [{"top_k": 1}, {"top_p": 1e-6}, {"min_p": 0.999}],
    ids=["top_k 1", "top_p tiny", "min_p near 1"],
)
def test_truncating_samplers_narrow_a_hot_draw_to_greedy(server: Server, narrowing: dict[str, float]) -> None:
    greedy = text(server, temperature=0)
    seeds = (11, 12, 13)
    # The control: at this temperature these seeds leave the greedy path.
    assert all(text(server, temperature=HOT, seed=seed) != greedy for seed in seeds)
    assert all(text(server, temperature=HOT, seed=seed, **narrowing) == greedy for seed in seeds)


APPLES = "apple, apple, apple, apple, apple, apple, apple, apple,"


# The penalties count generated tokens only (not the prompt's).
@pytest.mark.parametrize("penalty", [{"repetition_penalty": 2.0}, {"frequency_penalty": 2.0}])
def test_penalties_break_a_repetition(server: Server, penalty: dict[str, float]) -> None:
    plain = text(server, prompt=APPLES, temperature=0)
    assert plain.count("apple") >= 2, plain  # the control: greedy repeats itself
    penalised = text(server, prompt=APPLES, temperature=0, **penalty)
    assert penalised.count("apple") < plain.count("apple"), penalised


def _presence_breaks(steps: list[tuple[str, float, dict[str, float]]], penalty: float) -> int:
    """Steps where the chosen token is not the best once each token already generated loses ``penalty``."""
    seen: set[str] = set()
    breaks = 0
    for token, chosen, top in steps:
        best = max(lp - penalty * (t in seen) for t, lp in top.items())
        if chosen - penalty * (token in seen) < best - 1e-3:
            breaks += 1
        seen.add(token)
    return breaks


def test_presence_penalty_lowers_every_token_already_said(server: Server) -> None:
    """presence_penalty is capped at 2, too weak to break the apple loop; what it does is checked at every
    step instead: greedy then takes the best token once those already generated lose 2, and the logprobs
    returned are the model's own, before any penalty."""

    def steps(**params: object) -> list[tuple[str, float, dict[str, float]]]:
        choice = complete(server, temperature=0, max_tokens=48, logprobs=5, **params)[0]
        logprobs = choice["logprobs"]
        assert isinstance(logprobs, dict)
        return list(
            zip(logprobs["tokens"], logprobs["token_logprobs"], logprobs["top_logprobs"], strict=True)
        )

    # The control: plain greedy repeats a token where an unsaid one was within 2, so the penalty has work.
    assert _presence_breaks(steps(), 2.0) > 0
    assert _presence_breaks(steps(presence_penalty=2.0), 2.0) == 0


def test_ignore_eos_generates_exactly_max_tokens(server: Server) -> None:
    """A short answer ends at the end-of-sequence token; with ``ignore_eos`` (vLLM's and llama-server's
    switch) the same request runs on to ``max_tokens``."""
    messages = [{"role": "user", "content": "Reply with the single word yes."}]

    def ask(**extra: object) -> dict[str, object]:
        body = {"model": MODEL, "messages": messages, "max_tokens": 48, "temperature": 0, **extra}
        reply = httpx.post(f"{server.v1}/chat/completions", json=body, timeout=120)
        assert reply.status_code == 200, reply.text
        data: dict[str, object] = reply.json()
        return data

    short, full = ask(), ask(ignore_eos=True)
    assert short["choices"][0]["finish_reason"] == "stop"  # type: ignore[index]
    assert short["usage"]["completion_tokens"] < 48  # type: ignore[index]
    assert full["choices"][0]["finish_reason"] == "length"  # type: ignore[index]
    assert full["usage"]["completion_tokens"] == 48  # type: ignore[index]
    answer = short["choices"][0]["message"]["content"]  # type: ignore[index]
    assert str(full["choices"][0]["message"]["content"]).startswith(str(answer))  # type: ignore[index]

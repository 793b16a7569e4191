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
    body = {"model": MODEL, "prompt": PROMPT, "max_tokens": MAX_TOKENS, **params}
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


# The penalties count generated tokens only (not the prompt's), and presence_penalty is capped at 2: too
# weak to break the apple loop, it is shown on an answer that repeats its paragraph breaks.
@pytest.mark.parametrize(
    ("prompt", "penalty", "repeated"),
    [
        (APPLES, {"repetition_penalty": 2.0}, "apple"),
        (APPLES, {"frequency_penalty": 2.0}, "apple"),
        (PROMPT, {"presence_penalty": 2.0}, "\n\n"),
    ],
    ids=["repetition", "frequency", "presence"],
)
def test_penalties_break_a_repetition(
    server: Server, prompt: str, penalty: dict[str, float], repeated: str
) -> None:
    plain = text(server, prompt=prompt, temperature=0)
    assert plain.count(repeated) >= 2, plain  # the control: greedy repeats itself
    penalised = text(server, prompt=prompt, temperature=0, **penalty)
    assert penalised.count(repeated) < plain.count(repeated), penalised

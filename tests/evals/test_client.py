"""The eval client against scripted servers (``httpx.MockTransport``): the reply shapes of deepfort,
vLLM, llama-server, Ollama and DeepSeek's API, log-likelihoods from echoed prompt log-probabilities, and
the refusals that must be errors, never scores."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepfort.evals.base import GenerateRequest, Loglikelihood, LoglikelihoodRequest
from deepfort.evals.client import (
    EvalClient,
    EvalError,
    Reply,
    SamplingParams,
    continuation_span,
    normalise_base_url,
    split_think,
)

Handler = Callable[[httpx.Request], httpx.Response]
ASK = GenerateRequest(({"role": "user", "content": "2+2?"},))


def client(handler: Handler, **kwargs: Any) -> EvalClient:
    return EvalClient(
        "http://server/v1", "m", transport=httpx.MockTransport(handler), backoff_s=0.001, **kwargs
    )


def chat_reply(message: dict[str, Any], usage: dict[str, Any] | None = None, finish: str = "stop") -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        body: dict[str, Any] = {"choices": [{"index": 0, "message": message, "finish_reason": finish}]}
        if usage is not None:
            body["usage"] = usage
        return httpx.Response(200, json=body)

    return handle


def generate(handler: Handler, params: SamplingParams | None = None) -> Reply:
    async def go() -> Reply:
        async with client(handler) as c:
            return await c.generate(ASK, params or SamplingParams())

    return asyncio.run(go())


# (server, message, usage, content, reasoning, reasoning tokens, estimated)
REPLIES: list[tuple[str, dict[str, Any], dict[str, Any] | None, str, str, int, bool]] = [
    (
        "deepfort / vLLM / DeepSeek: reasoning_content and a count",
        {"role": "assistant", "content": "4", "reasoning_content": "two and two"},
        {"completion_tokens": 10, "completion_tokens_details": {"reasoning_tokens": 8}},
        "4",
        "two and two",
        8,
        False,
    ),
    (
        "a server's `reasoning`, no reasoning count: estimated from characters",
        {"role": "assistant", "content": "4", "reasoning": "abc"},
        {"completion_tokens": 8},
        "4",
        "abc",
        6,
        True,
    ),
    (
        "llama-server without a parser: the block left in content",
        {"role": "assistant", "content": "<think>\nadd them\n</think>\n\nThe answer is 4"},
        {"completion_tokens": 12},
        "The answer is 4",
        "add them",
        round(12 * len("add them") / len("add themThe answer is 4")),
        True,
    ),
    (
        "a template that opened the block: only the closing tag in content",
        {"role": "assistant", "content": "add them</think>4"},
        {"completion_tokens": 5},
        "4",
        "add them",
        4,
        True,
    ),
    (
        "no reasoning at all",
        {"role": "assistant", "content": "4"},
        {"completion_tokens": 1},
        "4",
        "",
        0,
        False,
    ),
    (
        "no usage at all (some proxies): every count estimated",
        {"role": "assistant", "content": "four, plainly"},
        None,
        "four, plainly",
        "",
        0,
        True,
    ),
]


@pytest.mark.parametrize(
    ("server", "message", "usage", "content", "reasoning", "reasoning_tokens", "estimated"),
    REPLIES,
    ids=[r[0] for r in REPLIES],
)
def test_reply_shapes(
    server: str,
    message: dict[str, Any],
    usage: dict[str, Any] | None,
    content: str,
    reasoning: str,
    reasoning_tokens: int,
    estimated: bool,
) -> None:
    reply = generate(chat_reply(message, usage))
    assert (reply.content, reply.reasoning) == (content, reasoning)
    assert reply.reasoning_tokens == reasoning_tokens
    assert reply.tokens_estimated is estimated


def test_sampling_params_are_sent_and_none_left_out() -> None:
    seen: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return chat_reply({"content": "4"}, {"completion_tokens": 1})(request)

    generate(handle, SamplingParams(temperature=0.6, top_p=0.95, seed=3))
    assert seen == [
        {
            "model": "m",
            "messages": [{"role": "user", "content": "2+2?"}],
            "temperature": 0.6,
            "top_p": 0.95,
            "seed": 3,
        }
    ]


def test_cut_inside_the_reasoning_leaves_no_answer() -> None:
    reply = generate(
        chat_reply({"content": "<think>still thinking about"}, {"completion_tokens": 9}, "length")
    )
    assert reply.content == "" and reply.reasoning == "still thinking about" and reply.truncated


@given(st.text(alphabet="ab<>/think ", max_size=40), st.text(alphabet="xy AB", max_size=20))
def test_split_think_never_leaks_reasoning_into_the_answer(reasoning: str, answer: str) -> None:
    if "</think>" in reasoning or "</think>" in answer:
        return
    got_reasoning, got_answer = split_think(f"<think>{reasoning}</think>{answer}")
    assert got_answer == answer.lstrip()
    assert got_reasoning == reasoning.removeprefix("<think>").strip() or reasoning.lstrip().startswith(
        "<think>"
    )


def test_retries_429_and_5xx_then_answers() -> None:
    statuses = iter([429, 503, 502])

    def handle(request: httpx.Request) -> httpx.Response:
        status = next(statuses, 200)
        if status != 200:
            return httpx.Response(status, json={"error": {"message": "busy"}}, headers={"Retry-After": "0"})
        return chat_reply({"content": "4"}, {"completion_tokens": 1})(request)

    async def go() -> tuple[Reply, int]:
        async with client(handle) as c:
            reply = await c.generate(ASK, SamplingParams())
            return reply, c.requests

    reply, requests = asyncio.run(go())
    assert reply.content == "4" and requests == 4


def test_gives_up_after_the_retries() -> None:
    async def go() -> None:
        async with client(lambda r: httpx.Response(500, json={"error": {"message": "boom"}}), retries=2) as c:
            await c.generate(ASK, SamplingParams())

    with pytest.raises(EvalError, match=r"answered 500: boom \(after 3 attempts\)"):
        asyncio.run(go())


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"error": {"message": "max_tokens is too large"}}, "answered 400: max_tokens is too large"),
        (401, {"error": {"message": "invalid API key"}}, "answered 401: invalid API key"),
        (404, {"error": "model 'm' not found"}, "answered 404: model 'm' not found"),  # Ollama's shape
    ],
)
def test_client_errors_are_not_retried(status: int, body: dict[str, Any], message: str) -> None:
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(status, json=body)

    async def go() -> None:
        async with client(handle) as c:
            await c.generate(ASK, SamplingParams())

    with pytest.raises(EvalError, match=message):
        asyncio.run(go())
    assert calls == 1


# -- loglikelihood ---------------------------------------------------------------------------------------


def tokens_of(text: str, cuts: list[int]) -> list[str]:
    edges = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges) if b > a]


def completion(
    prompt: str,
    cuts: list[int],
    values: list[float | None],
    *,
    generated: str = "",
    top: list[dict[str, float] | None] | None = None,
) -> dict[str, Any]:
    tokens = tokens_of(prompt, cuts) + ([generated] if generated else [])
    offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    return {
        "choices": [
            {
                "text": prompt + generated,
                "index": 0,
                "finish_reason": "length",
                "logprobs": {
                    "tokens": tokens,
                    "token_logprobs": values,
                    "text_offset": offsets,
                    "top_logprobs": top
                    if top is not None
                    else [None] + [{t: v} for t, v in zip(tokens[1:], values[1:], strict=True)],
                },
            }
        ],
        "usage": {
            "prompt_tokens": len(tokens_of(prompt, cuts)),
            "completion_tokens": len(tokens) - len(tokens_of(prompt, cuts)),
        },
    }


def score(handler: Handler, context: str, continuation: str) -> Loglikelihood:
    async def go() -> Loglikelihood:
        async with client(handler) as c:
            return await c.loglikelihood(LoglikelihoodRequest(context, continuation))

    return asyncio.run(go())


def test_loglikelihood_sums_the_continuation_tokens() -> None:
    prompt = "Q: 2+2?\nAnswer: four"  # tokens: "Q: 2+2?\n" "Answer:" " four"
    seen: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=completion(prompt, [8, 15], [None, -1.5, -0.25]))

    result = score(handle, "Q: 2+2?\nAnswer:", " four")
    assert result.logprob == -0.25 and result.is_greedy
    assert seen == [
        {"model": "m", "prompt": prompt, "echo": True, "logprobs": 1, "max_tokens": 0, "temperature": 0}
    ]


def test_a_token_across_the_boundary_counts_for_the_continuation() -> None:
    prompt = "Answer: four"  # the context "Answer: " ends inside the token " four"
    body = completion(prompt, [7], [None, -2.0], top=[None, {" five": -0.5, " four": -2.0}])
    result = score(lambda r: httpx.Response(200, json=body), "Answer: ", "four")
    assert result.logprob == -2.0 and not result.is_greedy


def test_max_tokens_0_refused_then_1_and_the_generated_token_left_out() -> None:
    prompt = "Answer: B"
    asked: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        max_tokens = json.loads(request.content)["max_tokens"]
        asked.append(max_tokens)
        if max_tokens == 0:
            return httpx.Response(400, json={"error": {"message": "max_tokens must be at least 1"}})
        return httpx.Response(200, json=completion(prompt, [7], [None, -0.75, -3.0], generated="\n"))

    async def go() -> list[Loglikelihood]:
        async with client(handle) as c:
            return [await c.loglikelihood(LoglikelihoodRequest("Answer:", " B")) for _ in range(2)]

    results = asyncio.run(go())
    assert [r.logprob for r in results] == [-0.75, -0.75]
    assert asked == [0, 1, 1], "the refusal of 0 is remembered"


# The ways servers answer an echo + logprobs request without the prompt's log-probabilities.
def _only_generated(prompt: str) -> dict[str, Any]:
    # deepfort before prompt logprobs, lm-eval's 0.10 score: the prompt echoed, logprobs of one token.
    body = completion(prompt, [7], [None, -1.0, -0.1], generated="x")
    lp = body["choices"][0]["logprobs"]
    lp["tokens"], lp["token_logprobs"], lp["text_offset"], lp["top_logprobs"] = (
        ["x"],
        [-0.1],
        [len(prompt)],
        [{"x": -0.1}],
    )
    return body


NO_PROMPT_LOGPROBS: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
    ("logprobs of the generated token only", _only_generated),
    ("no logprobs object", lambda p: {"choices": [{"text": p, "logprobs": None}]}),
    (
        "no echo",
        lambda p: {
            "choices": [
                {"text": "x", "logprobs": {"tokens": ["x"], "token_logprobs": [-1.0], "text_offset": [0]}}
            ]
        },
    ),
    (
        "offsets missing",
        lambda p: {
            "choices": [
                {"text": p, "logprobs": {"tokens": ["Answer:", " B"], "token_logprobs": [None, -1.0]}}
            ]
        },
    ),
    ("every value None", lambda p: completion(p, [7], [None, None])),
]


@pytest.mark.parametrize(("case", "body"), NO_PROMPT_LOGPROBS, ids=[c[0] for c in NO_PROMPT_LOGPROBS])
def test_no_prompt_logprobs_is_an_error_never_a_score(
    case: str, body: Callable[[str], dict[str, Any]]
) -> None:
    with pytest.raises(
        EvalError, match=r"does not return prompt log-probabilities \(echo \+ logprobs\); use generate mode"
    ):
        score(lambda r: httpx.Response(200, json=body("Answer: B")), "Answer:", " B")


def test_refusing_echo_and_logprobs_says_why() -> None:
    refusal = httpx.Response(400, json={"error": {"message": "echo is not supported"}})
    with pytest.raises(EvalError, match="echo is not supported; this server does not return prompt log-prob"):
        score(lambda r: refusal, "Answer:", " B")


@given(st.lists(st.integers(1, 6), min_size=1, max_size=8), st.data())
def test_continuation_span_covers_exactly_the_continuation(lengths: list[int], data: st.DataObject) -> None:
    offsets = [sum(lengths[:i]) for i in range(len(lengths))]
    end = sum(lengths)
    boundary = data.draw(st.integers(0, end - 1))
    span = continuation_span(offsets, boundary, end)
    covered_start = offsets[span.start]
    assert covered_start <= boundary, "the first token counted holds the continuation's first character"
    assert span.stop == len(offsets)
    token_end = offsets[span.start + 1] if span.start + 1 < len(offsets) else end
    assert token_end > boundary
    assert span.start == 0 or offsets[span.start] > offsets[span.start - 1]


def test_continuation_span_leaves_out_generated_tokens() -> None:
    assert continuation_span([0, 7, 9], 7, 9) == range(1, 2)


@pytest.mark.parametrize(
    ("given_url", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
        ("https://api.deepseek.com", "https://api.deepseek.com/v1"),
        ("http://localhost:11434/v1", "http://localhost:11434/v1"),
        ("https://proxy.example/openai/v1", "https://proxy.example/openai/v1"),
    ],
)
def test_base_url(given_url: str, expected: str) -> None:
    assert normalise_base_url(given_url) == expected


def test_is_greedy_false_without_top_logprobs() -> None:
    body = completion("Answer: B", [7], [None, -0.1], top=[None, None])
    assert not score(lambda r: httpx.Response(200, json=body), "Answer:", " B").is_greedy
    assert math.isclose(score(lambda r: httpx.Response(200, json=body), "Answer:", " B").logprob, -0.1)

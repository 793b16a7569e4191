"""Prompt log-probabilities through a real `deepfort serve` and the official openai SDK, checked against
llama.cpp computing them directly on the same GGUF in this process.

``/v1/completions`` with ``echo`` and ``logprobs`` covers the prompt (OpenAI's legacy API, vLLM): this is
what loglikelihood evaluation (lm-evaluation-harness, ``deepfort eval``) reads, and a server that answers
with the generated token's logprobs only gives silent chance scores.

The reference runs llama.cpp with flash attention, as the server's context does (llama.cpp's default,
``flash_attn_type`` auto, turns it on for the CPU): on SmolLM2-135M the attention path alone moves a
prompt token's logprob by up to 0.4 nats (f16 keys and values with or without flash attention, or f32
ones, all differ by that much), so a reference without it could not be held to 1e-3. With it, batches of
other shapes (chunked prefill, other sequences in the same decode) stay within 1e-3.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import llama_cpp
import numpy as np
import openai
import pytest

from deepfort.catalog import embedded_model_path
from tests.conftest import Server

pytestmark = pytest.mark.slow  # the reference loads the model in this process (the server makes it e2e)

MODEL = "smollm2-135m"
TOLERANCE = 1e-3
TOP = 5

PROMPTS = [
    "The capital of France is Paris, and the capital of Italy is Rome.",
    "Question: What is the boiling point of water at sea level?\nAnswer: 100 degrees Celsius",
    "def add(a, b):\n    return a + b\n",
    "Once upon a time, in a small village by the sea, there lived an old fisherman.",
    "The mitochondria is the powerhouse of the cell.",
    "1, 2, 3, 4, 5, 6, 7, 8, 9, 10",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "To be, or not to be, that is the question.",
    "Water is made of two hydrogen atoms and one oxygen atom.",
    "The Great Wall of China is visible from many places along its length.",
    "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday.",
    "Question: Which planet is known as the Red Planet?\nAnswer: Mars",
    "She opened the door and stepped out into the cold morning air.",
    "import numpy as np\nx = np.zeros(10)\nprint(x.sum())",
    "The speed of light in a vacuum is about 300,000 kilometres per second.",
    "A café in Zürich serves crème brûlée for 9 €.",
    "北京是中国的首都，上海是中国最大的城市。",
    "Dear Sir or Madam, I am writing to apply for the position of junior engineer.",
    "The quick brown fox jumps over the lazy dog.",
    # Longer than n_batch (512 tokens): its prefill is split over steps, its logprobs collected across them.
    " ".join(
        f"Chapter {i}: the river rose in the night, and by morning the {w} farm was under water."
        for i, w in enumerate(["north", "south", "east", "west", "old", "new", "red", "green"] * 4)
    ),
]


@dataclass
class Expected:
    """What llama.cpp says directly about one prompt: its tokens, each later token's logprob, and the
    top alternatives' logprobs in decreasing order."""

    ids: list[int]
    logprobs: np.ndarray
    top: np.ndarray
    top_ids: np.ndarray


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def llm() -> Iterator[llama_cpp.Llama]:
    model = llama_cpp.Llama(
        str(embedded_model_path()), logits_all=True, flash_attn=True, n_ctx=2048, verbose=False
    )
    yield model
    model.close()


def tokenize(server: Server, text: str) -> list[int]:
    reply = httpx.post(f"{server.base_url}/tokenize", json={"model": MODEL, "prompt": text}, timeout=30)
    assert reply.status_code == 200, reply.text
    ids: list[int] = reply.json()["tokens"]
    return ids


@pytest.fixture(scope="module")
def expected(server: Server, llm: llama_cpp.Llama) -> list[Expected]:
    out = []
    for prompt in PROMPTS:
        ids = tokenize(server, prompt)
        llm.reset()
        llm.eval(ids)
        logits = np.array(llm.scores[: len(ids) - 1], dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
        rows = np.arange(len(ids) - 1)
        top_ids = np.argsort(-logits, axis=1)[:, :TOP]
        out.append(Expected(ids, logits[rows, ids[1:]], logits[rows[:, None], top_ids], top_ids))
    assert max(len(e.ids) for e in out) > 512, "the long prompt must outgrow one batch"
    return out


def piece(llm: llama_cpp.Llama, token: int) -> str:
    return llm.detokenize([int(token)]).decode("utf-8", "replace")


def check(llm: llama_cpp.Llama, prompt: str, want: Expected, logprobs: dict[str, list[object]]) -> None:
    tokens, values, tops = logprobs["tokens"], logprobs["token_logprobs"], logprobs["top_logprobs"]
    assert len(tokens) == len(values) == len(tops) == len(want.ids)
    # The first token has nothing before it: no logprob (OpenAI's legacy API and vLLM send null).
    assert values[0] is None and tops[0] is None
    got = np.array(values[1:], dtype=np.float64)
    assert np.abs(got - want.logprobs).max() < TOLERANCE, (prompt, np.abs(got - want.logprobs).max())
    for i, top in enumerate(tops[1:]):
        # The top 5 by text (the likeliest where pieces of one character read the same), and the token
        # itself unless a likelier one reads as it does (vLLM's rule: the chosen token is among them).
        want_top: dict[str, float] = {}
        for token, value in zip(want.top_ids[i], want.top[i], strict=True):
            want_top.setdefault(piece(llm, token), float(value))
        want_top.setdefault(piece(llm, want.ids[i + 1]), float(want.logprobs[i]))
        assert isinstance(top, dict) and top.keys() == want_top.keys(), (prompt, i, top, want_top)
        assert all(abs(top[k] - want_top[k]) < TOLERANCE for k in top), (prompt, i, top, want_top)
        # The most likely next token agrees with llama.cpp's.
        assert max(top, key=lambda k: top[k]) == piece(llm, want.top_ids[i][0]), (prompt, i, top)
    assert [t == piece(llm, i) for t, i in zip(tokens, want.ids, strict=True)] == [True] * len(tokens)
    # text_offset: characters into the returned text, which is the prompt.
    offsets = logprobs["text_offset"]
    assert offsets[0] == 0 and offsets == sorted(offsets)
    for token, offset in zip(tokens, offsets, strict=True):
        if "\ufffd" not in str(token):  # a token that is part of a character starts where it starts
            assert prompt[offset : offset + len(str(token))] == token
    if prompt.isascii():
        assert "".join(map(str, tokens)) == prompt


def score(client: openai.OpenAI, prompt: str | list[int], **extra: object) -> dict[str, object]:
    reply = client.completions.create(
        model=MODEL, prompt=prompt, echo=True, logprobs=TOP, max_tokens=0, temperature=0, **extra
    )
    (choice,) = reply.choices
    assert choice.finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 0
    data: dict[str, object] = choice.model_dump()
    data["prompt_tokens"] = reply.usage.prompt_tokens
    return data


def test_prompt_logprobs_equal_llama_cpp_directly(
    client: openai.OpenAI, llm: llama_cpp.Llama, expected: list[Expected]
) -> None:
    for prompt, want in zip(PROMPTS, expected, strict=True):
        choice = score(client, prompt)
        assert choice["text"] == prompt
        assert choice["prompt_tokens"] == len(want.ids)
        check(llm, prompt, want, choice["logprobs"])  # type: ignore[arg-type]


def test_a_token_prompt_scores_as_its_text(client: openai.OpenAI, expected: list[Expected]) -> None:
    for prompt, want in list(zip(PROMPTS, expected, strict=True))[:5]:
        by_text = score(client, prompt)
        by_ids = score(client, want.ids)
        assert by_ids["text"] == prompt
        assert by_ids["logprobs"] == by_text["logprobs"]


def test_concurrent_requests_keep_their_own_logits(
    server: Server, client: openai.OpenAI, llm: llama_cpp.Llama, expected: list[Expected]
) -> None:
    """All prompts at once on four slots, while two ordinary answers decode beside them: continuous
    batching puts prefill chunks of several prompts and decoding tokens into one llama_decode."""
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "Tell me a long story."}]}
    with ThreadPoolExecutor(max_workers=len(PROMPTS) + 2) as pool:
        talkers = [
            pool.submit(
                httpx.post, f"{server.v1}/chat/completions", json={**chat, "max_tokens": 200}, timeout=300
            )
            for _ in range(2)
        ]
        scored = list(pool.map(lambda p: score(client, p), PROMPTS))
        assert all(t.result().status_code == 200 for t in talkers)
    for prompt, want, choice in zip(PROMPTS, expected, scored, strict=True):
        check(llm, prompt, want, choice["logprobs"])  # type: ignore[arg-type]
    # Several prompts in one request (the server allows 4 choices): one engine sequence each.
    reply = client.completions.create(
        model=MODEL, prompt=PROMPTS[-4:], echo=True, logprobs=TOP, max_tokens=0, temperature=0
    )
    for prompt, want, choice in zip(PROMPTS[-4:], expected[-4:], reply.choices, strict=True):
        assert choice.text == prompt
        check(llm, prompt, want, choice.model_dump()["logprobs"])


def test_echo_with_generated_tokens_and_streaming(client: openai.OpenAI, expected: list[Expected]) -> None:
    """With max_tokens > 0 the logprobs run on from the prompt into the answer (what lm-eval's
    local-completions reads with max_tokens 1); a stream sends the prompt with the first token (vLLM)."""
    prompt, want = PROMPTS[1], expected[1]
    whole = client.completions.create(
        model=MODEL, prompt=prompt, echo=True, logprobs=2, max_tokens=4, temperature=0
    )
    (choice,) = whole.choices
    lp = choice.logprobs
    assert lp is not None and lp.tokens and lp.token_logprobs and lp.text_offset and lp.top_logprobs
    assert whole.usage is not None and whole.usage.completion_tokens == 4
    assert len(lp.tokens) == len(want.ids) + 4
    assert choice.text.startswith(prompt) and "".join(lp.tokens) == choice.text
    assert lp.text_offset[len(want.ids)] == len(prompt)
    generated = lp.token_logprobs[len(want.ids) :]
    assert all(isinstance(v, float) for v in generated)
    # Greedy: each generated token is the most likely one.
    for value, top in zip(generated, lp.top_logprobs[len(want.ids) :], strict=True):
        assert top is not None and value == pytest.approx(max(top.values()))
    assert np.abs(np.array(lp.token_logprobs[1 : len(want.ids)]) - want.logprobs).max() < TOLERANCE

    chunks = list(
        client.completions.create(
            model=MODEL, prompt=prompt, echo=True, logprobs=2, max_tokens=4, temperature=0, stream=True
        )
    )
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert texts[0].startswith(prompt) and "".join(texts) == choice.text
    streamed = [
        v for c in chunks if c.choices and c.choices[0].logprobs for v in c.choices[0].logprobs.token_logprobs
    ]
    assert streamed == lp.token_logprobs
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


def test_prompt_only_stream(client: openai.OpenAI, expected: list[Expected]) -> None:
    chunks = list(
        client.completions.create(
            model=MODEL, prompt=PROMPTS[0], echo=True, logprobs=1, max_tokens=0, temperature=0, stream=True
        )
    )
    (only,) = [c for c in chunks if c.choices]
    assert only.choices[0].text == PROMPTS[0] and only.choices[0].finish_reason == "length"
    assert only.choices[0].logprobs is not None
    assert len(only.choices[0].logprobs.tokens) == len(expected[0].ids)


def test_prompt_scoring_refusals_on_the_real_server(server: Server) -> None:
    """Bad requests for prompt scoring get a 4xx in OpenAI's shape (the table in process:
    tests/api/test_interop_routes.py)."""
    scored = {"echo": True, "logprobs": 1, "max_tokens": 0}
    for body, param in [
        ({**scored, "logprobs": 6}, "logprobs"),
        ({"max_tokens": 0}, None),
        ({**scored, "max_tokens": 2048}, "max_tokens"),
        # The PII policy (mask, by default) would have the model score a placeholder, not the echoed text.
        ({**scored, "prompt": "Call me at 13812345678."}, "prompt"),
    ]:
        reply = httpx.post(
            f"{server.v1}/completions", json={"model": MODEL, "prompt": PROMPTS[0], **body}, timeout=30
        )
        assert reply.status_code == 400, reply.text
        error = json.loads(reply.text)["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["param"] == param, error

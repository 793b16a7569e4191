"""The official openai SDK, sync and async, against a real `deepfort serve` process."""

from __future__ import annotations

import asyncio
import json

import httpx
import jsonschema
import openai
import pytest

from tests.conftest import Server

MODEL = "smollm2-135m"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0)


def test_chat_non_stream(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=32, temperature=0)
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage is not None
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert 0 < reply.usage.completion_tokens <= 32
    assert reply.model == MODEL


def test_chat_stream_matches_non_stream(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=40, temperature=0)
    stream = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=40, temperature=0, stream=True
    )
    parts: list[str] = []
    finish = None
    roles = []
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.delta.role)
            parts.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert roles == ["assistant"]
    assert "".join(parts) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason


def test_include_usage_equals_server_counts(server: Server, client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        max_tokens=24,
        temperature=0,
        stream=True,
        logprobs=True,
        stream_options={"include_usage": True},
    )
    usage = None
    token_entries = 0
    for chunk in stream:
        if chunk.usage is not None:
            assert chunk.choices == []
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.logprobs and choice.logprobs.content:
                token_entries += len(choice.logprobs.content)
    assert usage is not None
    counted = httpx.post(f"{server.base_url}/tokenize", json={"model": MODEL, "messages": QUESTION}).json()
    assert usage.prompt_tokens == counted["count"]
    assert usage.completion_tokens == token_entries  # one logprob entry per generated token
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stop_sequence_across_tokens(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Write two sentences about the sea."}]
    free = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=60, temperature=0)
    text = free.choices[0].message.content or ""
    words = text.split(" ")
    assert len(words) > 6, text
    stop = " ".join(words[3:5])  # two words: spans several tokens
    cut = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=60, temperature=0, stop=[stop, "@@never@@"]
    )
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].message.content == text[: text.index(stop)]


def test_same_seed_same_text(client: openai.OpenAI) -> None:
    kwargs = {"model": MODEL, "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 40}
    first = client.chat.completions.create(temperature=0.8, seed=1234, **kwargs)  # type: ignore[call-overload]
    second = client.chat.completions.create(temperature=0.8, seed=1234, **kwargs)  # type: ignore[call-overload]
    assert first.choices[0].message.content == second.choices[0].message.content


def test_n_choices_differ_by_seed(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=12, temperature=1.0, seed=7, n=3
    )
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert all(c.message.content is not None for c in reply.choices)
    assert reply.usage is not None
    assert reply.usage.completion_tokens <= 36


def test_json_schema_output_validates(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 24},
            "population": {"type": "integer", "minimum": 0, "maximum": 100000000},
            "capital": {"type": "boolean"},
        },
        "required": ["city", "population", "capital"],
        "additionalProperties": False,
    }
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe Paris as JSON."}],
        max_tokens=200,
        temperature=0.7,
        seed=3,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    data = json.loads(reply.choices[0].message.content or "")
    jsonschema.validate(data, schema)


def test_json_object_output_parses(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": 'Reply with a JSON object with the key "answer" set to the sum of 2 and 2.',
            }
        ],
        max_tokens=300,
        temperature=0,
        response_format={"type": "json_object"},
    )
    assert reply.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


def test_chat_logprobs(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=6, temperature=0, logprobs=True, top_logprobs=3
    )
    content = reply.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content is not None and len(content) == reply.usage.completion_tokens  # type: ignore[union-attr]
    for entry in content:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == 3
        # Greedy decoding picks the most likely token.
        assert entry.logprob == pytest.approx(entry.top_logprobs[0].logprob)


def test_completions(client: openai.OpenAI) -> None:
    one = client.completions.create(
        model=MODEL, prompt="The capital of France is", max_tokens=8, temperature=0
    )
    assert one.choices[0].text
    assert one.usage is not None and one.usage.completion_tokens <= 8
    many = client.completions.create(
        model=MODEL, prompt=["One, two,", "Red, green,"], max_tokens=5, temperature=0, echo=True, logprobs=2
    )
    assert [c.index for c in many.choices] == [0, 1]
    assert many.choices[0].text.startswith("One, two,")
    assert many.choices[1].text.startswith("Red, green,")
    lp = many.choices[0].logprobs
    assert lp is not None and lp.tokens and lp.token_logprobs and lp.top_logprobs
    # Echo with logprobs covers the prompt: its first token has none, every later one its top 2 and itself.
    assert lp.tokens[:4] == ["One", ",", " two", ","]
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert all(2 <= len(top or {}) <= 3 for top in lp.top_logprobs[1:])
    assert "".join(lp.tokens) == many.choices[0].text


def test_completions_stream(client: openai.OpenAI) -> None:
    whole = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=16, temperature=0)
    parts = [
        c.choices[0].text
        for c in client.completions.create(
            model=MODEL, prompt="Once upon a time", max_tokens=16, temperature=0, stream=True
        )
        if c.choices
    ]
    assert "".join(parts) == whole.choices[0].text


def test_models(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert {"smollm2-135m", "smollm2", "smol-1slot", "smol-r1", "r1"} <= set(ids)
    assert client.models.retrieve("r1").id == "r1"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert info.value.code == "model_not_found"


def test_generate_endpoint(server: Server) -> None:
    reply = httpx.post(f"{server.base_url}/generate", json={"prompt": "Say hi.", "max_length": 8}, timeout=60)
    assert reply.status_code == 200
    body = reply.json()
    assert isinstance(body["response"], str) and body["response"]
    assert body["usage"]["completion_tokens"] <= 8


def test_request_id_is_honoured(server: Server) -> None:
    reply = httpx.get(f"{server.base_url}/health", headers={"x-request-id": "trace-42"})
    assert reply.headers["x-request-id"] == "trace-42"
    assert httpx.get(f"{server.base_url}/health").headers["x-request-id"]


def test_async_client_stream(server: Server) -> None:
    async def run() -> str:
        async with openai.AsyncOpenAI(base_url=server.v1, api_key="unused", max_retries=0) as aclient:
            stream = await aclient.chat.completions.create(
                model=MODEL, messages=QUESTION, max_tokens=16, temperature=0, stream=True
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    text = asyncio.run(run())
    sync = openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0)
    whole = sync.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=16, temperature=0)
    sync.close()
    assert text == whole.choices[0].message.content


def test_stream_chunks_match_the_wire_model(server: Server) -> None:
    from deepfort.protocol import ChatCompletionChunk

    body = {"model": MODEL, "messages": QUESTION, "max_tokens": 8, "stream": True, "logprobs": True}
    body["stream_options"] = {"include_usage": True}
    events = []
    with httpx.stream("POST", f"{server.v1}/chat/completions", json=body, timeout=60) as reply:
        for line in reply.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line[6:]))
    assert len(events) >= 3
    fields = set(ChatCompletionChunk.model_fields)
    # The route (an extension) is sent once, in the first chunk.
    assert set(events[0]) == fields and events[0]["route"]["tier"] == "local"
    for event in events[1:]:
        assert set(event) == fields - {"route"}
        ChatCompletionChunk.model_validate(event)

"""An edge and a center talking gRPC: routing by complexity, streaming and usage through the hop,
reasoning, errors and cancellation crossing it."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.cluster.conftest import Cluster
from tests.helpers import read_tokens, wait_until

COMPLEX = (
    "Prove that the square root of 2 is irrational, then compare the proof by contradiction with a "
    "proof based on the fundamental theorem of arithmetic and explain step by step why each one works."
)
SIMPLE = "Hello! What is the capital of France?"


def chat(cluster: Cluster, **body: object) -> httpx.Response:
    payload = {"max_tokens": 8, "temperature": 0, **body}
    return httpx.post(f"{cluster.edge.v1}/chat/completions", json=payload, timeout=120)


def test_complex_question_goes_to_the_center_and_says_so(cluster: Cluster) -> None:
    response = chat(cluster, model="auto", messages=[{"role": "user", "content": COMPLEX}])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["route"]["tier"] == "center"
    assert body["route"]["target"] == f"grpc://127.0.0.1:{cluster.grpc_port}"
    assert body["route"]["degraded"] is False
    assert body["route"]["reason"].startswith("complex")
    assert body["model"] == "center-big"
    header = response.headers["x-deepfort-route"]
    assert header.startswith("center;") and "reason=complex" in header
    assert body["choices"][0]["message"]["content"]


def test_simple_question_stays_on_the_edge(cluster: Cluster) -> None:
    response = chat(cluster, model="auto", messages=[{"role": "user", "content": SIMPLE}])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["route"]["tier"] == "edge"
    assert body["route"]["reason"].startswith("simple")
    assert body["model"] == "edge-small"
    assert response.headers["x-deepfort-route"].startswith("edge;")


def test_explicit_model_goes_where_it_lives(cluster: Cluster) -> None:
    ids = {m["id"]: m["owned_by"] for m in httpx.get(f"{cluster.edge.v1}/models").json()["data"]}
    assert ids["auto"] == "router" and ids["center-big"] == "center" and ids["edge-small"] == "deepfort"
    remote = chat(cluster, model="center-big", messages=[{"role": "user", "content": SIMPLE}]).json()
    assert (remote["route"]["tier"], remote["route"]["reason"]) == ("center", "requested model")
    local = chat(cluster, model="edge-small", messages=[{"role": "user", "content": COMPLEX}]).json()
    assert local["route"]["tier"] == "edge"


def test_streaming_through_the_hop_matches_the_center_and_usage_adds_up(cluster: Cluster) -> None:
    client = openai.OpenAI(base_url=cluster.edge.v1, api_key="unused")
    messages = [{"role": "user", "content": "Write one sentence about the sea."}]
    stream = client.chat.completions.create(
        model="center-big",
        messages=messages,  # type: ignore[arg-type]
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    usage = chunks[-1].usage
    assert usage is not None and finish == ["length"]
    assert chunks[0].model_extra is not None and chunks[0].model_extra["route"]["tier"] == "center"
    direct = openai.OpenAI(base_url=cluster.center.v1, api_key="unused").chat.completions.create(
        model="center-big",
        messages=messages,  # type: ignore[arg-type]
        max_tokens=12,
        temperature=0,
    )
    assert direct.usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (direct.usage.prompt_tokens, 12)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert text == direct.choices[0].message.content


def test_reasoning_crosses_the_hop(cluster: Cluster) -> None:
    response = chat(
        cluster,
        model="center-r1",
        max_tokens=40,
        thinking_token_budget=8,
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
    )
    assert response.status_code == 200, response.text
    message = response.json()["choices"][0]["message"]
    assert message["reasoning_content"] and message["reasoning"] == message["reasoning_content"]
    assert message["content"]
    assert response.json()["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"n": 99}, 400, None),
        ({"max_tokens": 100_000}, 400, "context_length_exceeded"),
    ],
)
def test_center_refusals_reach_the_client_in_openai_shape(
    cluster: Cluster, body: dict[str, object], status: int, code: str | None
) -> None:
    response = chat(cluster, model="center-big", messages=[{"role": "user", "content": SIMPLE}], **body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"].startswith("center grpc://")
    # The center is not blamed for the client's mistake: it stays in service.
    assert (
        chat(cluster, model="center-big", messages=[{"role": "user", "content": SIMPLE}]).status_code == 200
    )


def test_client_leaving_cancels_the_generation_on_the_center(cluster: Cluster) -> None:
    payload = {
        "model": "center-big",
        "stream": True,
        "max_tokens": 1500,
        "temperature": 0,  # greedy: a long answer (a sampled one may end after a word)
        "messages": [{"role": "user", "content": "Tell a very long story."}],
    }
    with httpx.Client(timeout=60) as client:
        with client.stream("POST", f"{cluster.edge.v1}/chat/completions", json=payload) as response:
            lines = response.iter_lines()
            read_tokens(lines, 3)
            assert cluster.center.stats("center-big")["running"] == 1
    wait_until(lambda: cluster.center.stats("center-big")["running"] == 0, "the center stops generating")
    stats = cluster.center.stats("center-big")
    assert stats["cancelled_total"] >= 1


def test_stream_chunks_carry_the_route_once(cluster: Cluster) -> None:
    payload = {
        "model": "auto",
        "stream": True,
        "max_tokens": 4,
        "messages": [{"role": "user", "content": SIMPLE}],
    }
    with httpx.stream("POST", f"{cluster.edge.v1}/chat/completions", json=payload, timeout=60) as response:
        assert response.headers["x-deepfort-route"].startswith("edge;")
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    assert [("route" in e) for e in events] == [True] + [False] * (len(events) - 1)

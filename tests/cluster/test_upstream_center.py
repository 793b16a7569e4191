"""An edge whose center is a third-party OpenAI-compatible server (llama-cpp-python's, standing in for
vLLM or SGLang): routed and named requests reach it, with the route reported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cluster.test_tiers import COMPLEX
from tests.conftest import Server, start_server, stop_server
from tests.helpers import wait_until


def config(upstream: Server) -> dict[str, object]:
    return {
        "role": "edge",
        "models": [
            {"id": "edge-small", "n_ctx": 1024, "n_parallel": 1},
            {
                "id": "r1-32b",
                "upstream": upstream.v1,
                "upstream_model": "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
                "api_key_env": "CENTER_API_KEY",
            },
        ],
        "routing": {"center_model": "r1-32b", "health": {"interval_s": 0.5}},
    }


@pytest.fixture(scope="module")
def edge(llama_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(
        config(llama_server), tmp_path_factory.mktemp("edge"), env={"CENTER_API_KEY": "sk-test"}
    )
    yield server
    stop_server(server)


def test_routed_question_reaches_the_upstream(edge: Server, llama_server: Server) -> None:
    payload = {
        "model": "auto",
        "max_tokens": 8,
        "temperature": 0,
        "messages": [{"role": "user", "content": COMPLEX}],
    }
    response = httpx.post(f"{edge.v1}/chat/completions", json=payload, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["route"]["tier"] == "center" and body["route"]["target"] == llama_server.v1
    assert body["model"] == "r1-32b"
    assert body["choices"][0]["finish_reason"] in ("stop", "length")
    assert body["choices"][0]["message"]["content"]
    assert response.headers["x-deepfort-route"].startswith("center;")


def test_upstream_model_is_listed_and_streams_by_name(edge: Server, llama_server: Server) -> None:
    cards = {m["id"]: m for m in httpx.get(f"{edge.v1}/models").json()["data"]}
    assert cards["r1-32b"]["owned_by"] == "center"
    assert cards["r1-32b"]["root"] == "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"
    payload = {
        "model": "r1-32b",
        "stream": True,
        "max_tokens": 6,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    with httpx.stream("POST", f"{edge.v1}/chat/completions", json=payload, timeout=60) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and any('"finish_reason":"' in line for line in lines)
    wait_until(
        lambda: bool(httpx.get(f"{edge.base_url}/stats").json()["centers"][0]["healthy"]), "center healthy"
    )


def test_missing_api_key_env_stops_the_start(llama_server: Server, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="CENTER_API_KEY is not set"):
        start_server(config(llama_server), tmp_path)

"""The center dies mid-stream: the client gets a clean error event, the edge keeps serving (degraded for
routed questions), the breaker opens, and closes again when the center is back."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cluster.conftest import Cluster, center_status, start_center, start_cluster, wait_for_center
from tests.cluster.test_tiers import COMPLEX, SIMPLE
from tests.conftest import stop_server
from tests.helpers import read_tokens, wait_until


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = start_cluster(tmp_path)
    wait_for_center(running.edge)
    yield running
    stop_server(running.edge)
    stop_server(running.center)


def ask(cluster: Cluster, model: str, question: str) -> httpx.Response:
    payload = {"model": model, "max_tokens": 4, "messages": [{"role": "user", "content": question}]}
    return httpx.post(f"{cluster.edge.v1}/chat/completions", json=payload, timeout=60)


def test_center_killed_mid_stream_then_back(own_cluster: Cluster) -> None:
    cluster = own_cluster
    payload = {
        "model": "auto",
        "stream": True,
        "max_tokens": 1500,
        "temperature": 0,
        "messages": [{"role": "user", "content": COMPLEX}],
    }
    with httpx.stream("POST", f"{cluster.edge.v1}/chat/completions", json=payload, timeout=60) as response:
        assert response.headers["x-deepfort-route"].startswith("center;")
        lines = response.iter_lines()
        read_tokens(lines, 3)
        cluster.center.process.send_signal(signal.SIGKILL)
        cluster.center.process.wait()
        rest = [line for line in lines if line.startswith("data: ")]
    # A clean end: one error event in OpenAI's shape, then [DONE].
    assert rest[-1] == "data: [DONE]"
    error = json.loads(rest[-2].removeprefix("data: "))["error"]
    assert error["code"] == "center_unavailable" and error["type"] == "service_unavailable"

    # The edge keeps serving: simple questions as before, routed ones on the edge, marked degraded.
    assert ask(cluster, "auto", SIMPLE).json()["route"]["tier"] == "edge"
    degraded = ask(cluster, "auto", COMPLEX)
    assert degraded.status_code == 200
    assert degraded.json()["route"]["degraded"] is True and degraded.json()["route"]["tier"] == "edge"
    assert "; degraded;" in degraded.headers["x-deepfort-route"]
    assert center_status(cluster.edge)["breaker"] != "closed" or not center_status(cluster.edge)["healthy"]
    # Asking for the center's model by name cannot fall back: 503 with Retry-After, OpenAI-shaped.
    refused = ask(cluster, "center-big", SIMPLE)
    assert refused.status_code == 503 and refused.headers["retry-after"]
    assert refused.json()["error"]["code"] == "center_unavailable"

    cluster.center = start_center(cluster.tmp / "center", cluster.grpc_port)
    wait_until(
        lambda: (
            center_status(cluster.edge)["breaker"] == "closed"
            and bool(center_status(cluster.edge)["healthy"])
        ),
        "the breaker closes once the center is back",
    )
    back = ask(cluster, "auto", COMPLEX)
    assert back.json()["route"] == {**back.json()["route"], "tier": "center", "degraded": False}


@pytest.mark.e2e
def test_center_down_at_start_answers_on_the_edge(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path)
    try:
        stop_server(cluster.center)
        wait_until(lambda: not center_status(cluster.edge)["healthy"], "the edge notices the center is down")
        response = ask(cluster, "auto", COMPLEX)
        assert response.status_code == 200
        route = response.json()["route"]
        assert route["degraded"] is True and "no center available" in route["reason"]
    finally:
        stop_server(cluster.edge)
        stop_server(cluster.center)

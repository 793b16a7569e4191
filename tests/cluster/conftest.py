"""A center and an edge as real `deepfort serve` processes talking gRPC on loopback."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import R1_STYLE_TEMPLATE, Server, free_port, start_server, stop_server
from tests.helpers import wait_until

CLUSTER_KEY = "k1:" + secrets.token_hex(16)
NODE_SECRET = "test-node-secret-" + secrets.token_hex(8)
CLUSTER_ENV = {"DEEPFORT_CLUSTER__KEYS": CLUSTER_KEY, "DEEPFORT_CLUSTER__NODE_SECRET": NODE_SECRET}

CENTER_CONFIG: dict[str, object] = {
    "models": [
        {"id": "center-big", "n_ctx": 2048, "n_parallel": 2},
        {
            "id": "center-r1",
            "path": None,
            "n_ctx": 1024,
            "n_parallel": 1,
            "chat_template": R1_STYLE_TEMPLATE,
            "reasoning_parser": "deepseek_r1",
        },
    ]
}


def edge_config(grpc_port: int) -> dict[str, object]:
    return {
        "role": "edge",
        "models": [{"id": "edge-small", "n_ctx": 2048, "n_parallel": 2}],
        "centers": [f"grpc://127.0.0.1:{grpc_port}"],
        "routing": {
            "center_model": "center-big",
            "deadline_s": 20,
            "health": {"interval_s": 0.5, "timeout_s": 2, "failure_threshold": 1},
            "breaker": {"failure_threshold": 1, "reset_after_s": 1},
        },
    }


@dataclass
class Cluster:
    center: Server
    edge: Server
    grpc_port: int
    tmp: Path

    def restart_center(self) -> None:
        stop_server(self.center)
        self.center = start_center(self.tmp / "center", self.grpc_port)


def start_center(tmp: Path, grpc_port: int) -> Server:
    return start_server(
        CENTER_CONFIG, tmp, args=["--role", "center", "--grpc-port", str(grpc_port)], env=CLUSTER_ENV
    )


def start_cluster(tmp: Path) -> Cluster:
    grpc_port = free_port()
    center = start_center(tmp / "center", grpc_port)
    try:
        edge = start_server(edge_config(grpc_port), tmp / "edge", env=CLUSTER_ENV)
    except BaseException:
        stop_server(center)
        raise
    return Cluster(center=center, edge=edge, grpc_port=grpc_port, tmp=tmp)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = start_cluster(tmp_path_factory.mktemp("cluster"))
    wait_for_center(running.edge)
    yield running
    stop_server(running.edge)
    stop_server(running.center)


def center_status(edge: Server) -> dict[str, object]:
    centers = httpx.get(f"{edge.base_url}/stats", timeout=10).json()["centers"]
    status: dict[str, object] = centers[0]
    return status


def wait_for_center(edge: Server) -> None:
    """The edge has probed the center and learnt its models (probes run every half second here)."""
    wait_until(
        lambda: bool(center_status(edge)["healthy"]) and "center-big" in center_status(edge)["models"],  # type: ignore[operator]
        "the edge sees a healthy center serving center-big",
    )

"""TLS and mutual TLS on the gRPC link, configured by settings: a center demanding client certificates
answers an edge that has one, and refuses peers that do not (or whose certificate another CA signed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from deepfort.cluster.client import RemoteEngine
from deepfort.config import TlsSettings
from deepfort.crypto.sm import Keyring
from deepfort.errors import CenterUnavailableError
from tests.cluster.certs import Authority, Pair
from tests.cluster.conftest import (
    CENTER_CONFIG,
    CLUSTER_ENV,
    CLUSTER_KEY,
    NODE_SECRET,
    center_status,
    edge_config,
)
from tests.cluster.test_tiers import COMPLEX
from tests.conftest import Server, free_port, start_server, stop_server
from tests.helpers import wait_until


@dataclass
class TlsCenter:
    server: Server
    port: int
    ca: Authority
    client: Pair


@pytest.fixture(scope="module")
def tls_center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCenter]:
    tmp = tmp_path_factory.mktemp("tls")
    ca = Authority(tmp)
    server_pair = ca.issue("center", server=True)
    client = ca.issue("edge", server=False)
    port = free_port()
    tls = {
        "cert": str(server_pair.cert),
        "key": str(server_pair.key),
        "ca": str(ca.pair.cert),
        "client_auth": True,
    }
    config = {**CENTER_CONFIG, "cluster": {"tls": tls}}
    server = start_server(
        config, tmp / "center", args=["--role", "center", "--grpc-port", str(port)], env=CLUSTER_ENV
    )
    yield TlsCenter(server, port, ca, client)
    stop_server(server)


def models(center: TlsCenter, tls: TlsSettings) -> list[str]:
    async def ask() -> list[str]:
        engine = RemoteEngine(
            f"grpc://127.0.0.1:{center.port}", Keyring.parse_env(CLUSTER_KEY), NODE_SECRET.encode(), tls
        )
        try:
            return await asyncio.wait_for(engine.list_models(), 10)
        finally:
            await engine.close()

    return asyncio.run(ask())


def test_mutual_tls_peer_is_answered(tls_center: TlsCenter) -> None:
    tls = TlsSettings(ca=tls_center.ca.pair.cert, cert=tls_center.client.cert, key=tls_center.client.key)
    assert models(tls_center, tls)[0] == "center-big"


def test_peer_without_client_certificate_is_refused(tls_center: TlsCenter) -> None:
    with pytest.raises(CenterUnavailableError):
        models(tls_center, TlsSettings(ca=tls_center.ca.pair.cert))


def test_peer_with_a_certificate_from_another_ca_is_refused(tls_center: TlsCenter, tmp_path: Path) -> None:
    rogue = Authority(tmp_path, "rogue CA").issue("rogue-edge", server=False)
    tls = TlsSettings(ca=tls_center.ca.pair.cert, cert=rogue.cert, key=rogue.key)
    with pytest.raises(CenterUnavailableError):
        models(tls_center, tls)


def test_plaintext_peer_is_refused(tls_center: TlsCenter) -> None:
    with pytest.raises(CenterUnavailableError):
        models(tls_center, TlsSettings())


def test_edge_configured_for_mutual_tls_routes_to_the_center(tls_center: TlsCenter, tmp_path: Path) -> None:
    config = edge_config(tls_center.port)
    tls = {
        "ca": str(tls_center.ca.pair.cert),
        "cert": str(tls_center.client.cert),
        "key": str(tls_center.client.key),
    }
    config["cluster"] = {"tls": tls}
    edge = start_server(config, tmp_path, env=CLUSTER_ENV)
    try:
        wait_until(
            lambda: bool(center_status(edge)["models"]), "the edge learns the center's models over mTLS"
        )
        payload = {"model": "auto", "max_tokens": 4, "messages": [{"role": "user", "content": COMPLEX}]}
        body = httpx.post(f"{edge.v1}/chat/completions", json=payload, timeout=60).json()
        assert body["route"]["tier"] == "center" and body["route"]["degraded"] is False
    finally:
        stop_server(edge)

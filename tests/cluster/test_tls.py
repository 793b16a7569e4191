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

# The refused peer only sees the socket close (TLS 1.3 checks the client's certificate after the client's
# side of the handshake is done); the center's gRPC core names the reason when its handshaker is traced.
HANDSHAKE_TRACE = {**CLUSTER_ENV, "GRPC_VERBOSITY": "info", "GRPC_TRACE": "handshaker"}
CLOSED = "unavailable .*Socket closed"


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
        config, tmp / "center", args=["--role", "center", "--grpc-port", str(port)], env=HANDSHAKE_TRACE
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


def refused(center: TlsCenter, tls: TlsSettings, reason: str) -> None:
    """The call fails as a closed connection, and the center's log gives ``reason`` for the handshake."""
    seen = len(center.server.log())

    def logged() -> bool:
        lines = center.server.log()[seen:].splitlines()
        return any("Ssl handshake failed" in line and reason in line for line in lines)

    with pytest.raises(CenterUnavailableError, match=CLOSED):
        models(center, tls)
    wait_until(logged, f"the center logs the handshake failure {reason}", limit=10)


def test_peer_without_client_certificate_is_refused(tls_center: TlsCenter) -> None:
    refused(tls_center, TlsSettings(ca=tls_center.ca.pair.cert), "PEER_DID_NOT_RETURN_A_CERTIFICATE")


def test_peer_with_a_certificate_from_another_ca_is_refused(tls_center: TlsCenter, tmp_path: Path) -> None:
    rogue = Authority(tmp_path, "rogue CA").issue("rogue-edge", server=False)
    tls = TlsSettings(ca=tls_center.ca.pair.cert, cert=rogue.cert, key=rogue.key)
    refused(tls_center, tls, "CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate")


def test_plaintext_peer_is_refused(tls_center: TlsCenter) -> None:
    refused(tls_center, TlsSettings(), "WRONG_VERSION_NUMBER")


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

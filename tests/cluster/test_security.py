"""Calls a center must refuse, each without harming it: tampered envelopes, unknown or wrong keys,
messages replayed into another request, replayed requests, stale requests, peers without the secret."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import httpx
import pytest

from deepfort.cluster import deepfort_pb2 as pb
from deepfort.cluster import deepfort_pb2_grpc as pb_grpc
from deepfort.cluster.envelope import (
    NODE_AUTH_HEADER,
    NODE_TS_HEADER,
    REQUEST_ID_HEADER,
    aad,
    node_proof,
    now_ms,
    seal,
    unseal,
)
from deepfort.crypto.sm import Keyring
from deepfort.errors import EnvelopeError
from tests.cluster.conftest import CLUSTER_KEY, NODE_SECRET, start_center
from tests.conftest import Server, free_port, start_server, stop_server

KEYRING = Keyring.parse_env(CLUSTER_KEY)


@dataclass
class Center:
    server: Server
    stub: pb_grpc.DeepfortStub


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Center]:
    port = free_port()
    server = start_center(tmp_path_factory.mktemp("center"), port)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield Center(server, pb_grpc.DeepfortStub(channel))
    channel.close()
    stop_server(server)


@dataclass(frozen=True)
class Call:
    """One ListModels call, every part of which a test may spoil."""

    request_id: str
    sealed_for: str
    keyring: Keyring = KEYRING
    secret: str = NODE_SECRET
    ts: int = 0
    method_in_aad: str = "ListModels"

    def envelope(self) -> pb.Envelope:
        message = pb.ListModelsRequest(issued_at_ms=now_ms())
        return seal(self.keyring, message, aad(self.method_in_aad, self.sealed_for, "request"))

    def metadata(self) -> tuple[tuple[str, str], ...]:
        ts = self.ts or now_ms()
        proof = node_proof(self.secret.encode(), "ListModels", self.request_id, ts)
        return ((REQUEST_ID_HEADER, self.request_id), (NODE_TS_HEADER, str(ts)), (NODE_AUTH_HEADER, proof))


def fresh() -> Call:
    rid = uuid.uuid4().hex
    return Call(request_id=rid, sealed_for=rid)


def flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


def tampered(field: str) -> Callable[[pb.Envelope], pb.Envelope]:
    def spoil(envelope: pb.Envelope) -> pb.Envelope:
        setattr(envelope, field, flip(getattr(envelope, field)))
        return envelope

    return spoil


def call(
    center: Center, spec: Call, spoil: Callable[[pb.Envelope], pb.Envelope] = lambda e: e
) -> pb.Envelope:
    answer: pb.Envelope = center.stub.ListModels(spoil(spec.envelope()), metadata=spec.metadata(), timeout=10)
    return answer


def test_a_proper_call_is_answered(center: Center) -> None:
    spec = fresh()
    reply = unseal(
        KEYRING, call(center, spec), aad("ListModels", spec.request_id, "response"), pb.ListModelsReply
    )
    assert [m.id for m in reply.models] == ["center-big", "center-r1"]


OTHER_KEY = Keyring.parse_env("k1:" + "ab" * 16)
UNKNOWN_ID = Keyring.parse_env("k9:" + CLUSTER_KEY.split(":")[1])

REFUSALS: list[tuple[str, Callable[[], Call], Callable[[pb.Envelope], pb.Envelope], grpc.StatusCode]] = [
    ("flipped ciphertext", fresh, tampered("ciphertext"), grpc.StatusCode.INVALID_ARGUMENT),
    ("flipped tag", fresh, tampered("tag"), grpc.StatusCode.INVALID_ARGUMENT),
    ("flipped nonce", fresh, tampered("nonce"), grpc.StatusCode.INVALID_ARGUMENT),
    (
        "unknown key id",
        lambda: replace(fresh(), keyring=UNKNOWN_ID),
        lambda e: e,
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "right id, wrong key",
        lambda: replace(fresh(), keyring=OTHER_KEY),
        lambda e: e,
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "sealed for another request",
        lambda: replace(fresh(), sealed_for=uuid.uuid4().hex),
        lambda e: e,
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "sealed for another method",
        lambda: replace(fresh(), method_in_aad="Health"),
        lambda e: e,
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "no node secret",
        lambda: replace(fresh(), secret="not-the-node-secret"),
        lambda e: e,
        grpc.StatusCode.UNAUTHENTICATED,
    ),
    (
        "stale request",
        lambda: replace(fresh(), ts=now_ms() - 3_600_000),
        lambda e: e,
        grpc.StatusCode.PERMISSION_DENIED,
    ),
]


@pytest.mark.parametrize(("case", "make", "spoil", "status"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_without_harm(
    center: Center,
    case: str,
    make: Callable[[], Call],
    spoil: Callable[[pb.Envelope], pb.Envelope],
    status: grpc.StatusCode,
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(center, make(), spoil)
    assert caught.value.code() == status, case  # type: ignore[attr-defined]
    assert center.server.process.poll() is None
    test_a_proper_call_is_answered(center)


def test_a_replayed_request_is_refused(center: Center) -> None:
    spec = fresh()
    envelope, metadata = spec.envelope(), spec.metadata()
    center.stub.ListModels(envelope, metadata=metadata, timeout=10)
    with pytest.raises(grpc.RpcError) as caught:
        center.stub.ListModels(envelope, metadata=metadata, timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    assert "replay" in caught.value.details()  # type: ignore[attr-defined]


def test_missing_metadata_is_refused(center: Center) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        center.stub.ListModels(fresh().envelope(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_streamed_events_cannot_be_moved_between_requests_or_positions(center: Center) -> None:
    spec = fresh()
    body = {"model": "center-big", "max_tokens": 3, "messages": [{"role": "user", "content": "Hi"}]}
    request = pb.GenerateRequest(kind="chat", body_json=json.dumps(body).encode(), issued_at_ms=now_ms())
    envelope = seal(KEYRING, request, aad("Generate", spec.request_id, "request"))
    metadata = (
        (REQUEST_ID_HEADER, spec.request_id),
        (NODE_TS_HEADER, str(ts := now_ms())),
        (NODE_AUTH_HEADER, node_proof(NODE_SECRET.encode(), "Generate", spec.request_id, ts)),
    )
    events = list(center.stub.Generate(envelope, metadata=metadata, timeout=60))
    opened = [
        unseal(KEYRING, e, aad("Generate", spec.request_id, "response", seq), pb.GenerateEvent)
        for seq, e in enumerate(events)
    ]
    assert opened[0].WhichOneof("event") == "accepted" and opened[-1].WhichOneof("event") == "usage"
    with pytest.raises(EnvelopeError):
        unseal(KEYRING, events[1], aad("Generate", spec.request_id, "response", 2), pb.GenerateEvent)
    with pytest.raises(EnvelopeError):
        unseal(KEYRING, events[1], aad("Generate", uuid.uuid4().hex, "response", 1), pb.GenerateEvent)


def test_center_still_serves_http(center: Center) -> None:
    assert httpx.get(f"{center.server.base_url}/health").json() == {"status": "ok"}


@pytest.mark.e2e
def test_a_center_without_keys_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no cluster keys"):
        start_server(
            {},
            tmp_path,
            args=["--role", "center", "--grpc-port", str(free_port())],
            env={"DEEPFORT_CLUSTER__NODE_SECRET": NODE_SECRET},
        )

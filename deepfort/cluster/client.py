"""The edge's side of the gRPC link: a deepfort center as a :class:`MessageEngine`."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc

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
from deepfort.cluster.errors import from_message, from_rpc
from deepfort.cluster.tls import channel_credentials
from deepfort.config import TlsSettings
from deepfort.crypto.sm import Keyring
from deepfort.engines.messages import MessageEvent, MessageUsage
from deepfort.errors import EnvelopeError, UpstreamError


class RemoteStream:
    """An accepted ``Generate`` call; events are opened one by one, each at its place in the stream."""

    def __init__(
        self,
        call: grpc.aio.UnaryStreamCall[pb.Envelope, pb.Envelope],
        keyring: Keyring,
        request_id: str,
        target: str,
    ) -> None:
        self.call = call
        self.keyring = keyring
        self.request_id = request_id
        self.target = target
        self.seq = 0
        self.usage: MessageUsage | None = None

    async def next_event(self) -> pb.GenerateEvent | None:
        try:
            envelope = await self.call.read()
        except grpc.aio.AioRpcError as exc:
            raise from_rpc(exc, self.target) from None
        if envelope is grpc.aio.EOF:  # type: ignore[attr-defined]
            return None
        assert isinstance(envelope, pb.Envelope)
        try:
            event = unseal(
                self.keyring,
                envelope,
                aad("Generate", self.request_id, "response", self.seq),
                pb.GenerateEvent,
            )
        except EnvelopeError as exc:
            self.call.cancel()
            raise UpstreamError(f"center {self.target} sent a bad envelope: {exc.message}") from None
        self.seq += 1
        return event

    async def __aiter__(self) -> AsyncIterator[MessageEvent]:
        while (event := await self.next_event()) is not None:
            kind = event.WhichOneof("event")
            if kind == "delta":
                d = event.delta
                yield MessageEvent(
                    index=d.index,
                    content=d.content,
                    reasoning=d.reasoning,
                    finish_reason=d.finish_reason or None,
                )
            elif kind == "usage":
                u = event.usage
                self.usage = MessageUsage(u.prompt_tokens, u.completion_tokens, u.reasoning_tokens)
            elif kind == "error":
                raise from_message(event.error, self.target)

    def cancel(self) -> None:
        self.call.cancel()

    async def aclose(self) -> None:
        self.call.cancel()


class RemoteEngine:
    """A deepfort center at ``grpc://host:port``."""

    def __init__(self, url: str, keyring: Keyring, secret: bytes, tls: TlsSettings) -> None:
        self.url = url
        self.keyring = keyring
        self.secret = secret
        address = url.removeprefix("grpc://")
        credentials = channel_credentials(tls)
        if credentials is None:
            self.channel = grpc.aio.insecure_channel(address)
        else:
            options = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
            self.channel = grpc.aio.secure_channel(address, credentials, options=options)
        self.stub = pb_grpc.DeepfortStub(self.channel)

    @property
    def target(self) -> str:
        return self.url

    def metadata(self, method: str, request_id: str) -> tuple[tuple[str, str], ...]:
        ts = now_ms()
        return (
            (REQUEST_ID_HEADER, request_id),
            (NODE_TS_HEADER, str(ts)),
            (NODE_AUTH_HEADER, node_proof(self.secret, method, request_id, ts)),
        )

    async def open_chat(self, body: dict[str, Any], request_id: str) -> RemoteStream:
        request = pb.GenerateRequest(kind="chat", body_json=json.dumps(body).encode(), issued_at_ms=now_ms())
        envelope = seal(self.keyring, request, aad("Generate", request_id, "request"))
        call = self.stub.Generate(envelope, metadata=self.metadata("Generate", request_id))
        stream = RemoteStream(call, self.keyring, request_id, self.url)
        try:
            first = await stream.next_event()
        except BaseException:
            call.cancel()
            raise
        kind = None if first is None else first.WhichOneof("event")
        if first is not None and kind == "error":
            raise from_message(first.error, self.url)
        if kind != "accepted":
            call.cancel()
            raise UpstreamError(f"center {self.url} did not accept the request (got {kind})")
        return stream

    async def _unary(self, method: str, request: Any, reply: type[Any], deadline_s: float) -> Any:
        request_id = uuid.uuid4().hex
        envelope = seal(self.keyring, request, aad(method, request_id, "request"))
        rpc = getattr(self.stub, method)
        try:
            answer = await rpc(envelope, metadata=self.metadata(method, request_id), timeout=deadline_s)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc(exc, self.url) from None
        try:
            return unseal(self.keyring, answer, aad(method, request_id, "response"), reply)
        except EnvelopeError as exc:
            raise UpstreamError(f"center {self.url} sent a bad envelope: {exc.message}") from None

    async def health(self) -> bool:
        reply = await self._unary("Health", pb.HealthRequest(issued_at_ms=now_ms()), pb.HealthReply, 5.0)
        return bool(reply.status == "ok")

    async def list_models(self) -> list[str]:
        reply = await self._unary(
            "ListModels", pb.ListModelsRequest(issued_at_ms=now_ms()), pb.ListModelsReply, 5.0
        )
        return [name for m in reply.models for name in (m.id, *m.aliases)]

    async def close(self) -> None:
        await self.channel.close(grace=None)

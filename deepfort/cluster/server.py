"""The center's side of the gRPC link: the ``Deepfort`` service over this node's chat pipeline.

Every call is checked in the same order before any work: request id well formed, node secret proven for
this method, request id and timestamp fresh (replay guard), envelope opens under this request's AAD. A
call failing any check is refused with a gRPC status and no payload, and logged; the server keeps serving.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import TypeVar

import grpc
from google.protobuf.message import Message
from pydantic import ValidationError

from deepfort.cluster import deepfort_pb2 as pb
from deepfort.cluster import deepfort_pb2_grpc as pb_grpc
from deepfort.cluster.envelope import (
    NODE_AUTH_HEADER,
    NODE_TS_HEADER,
    REQUEST_ID_HEADER,
    ReplayGuard,
    aad,
    check_node_proof,
    seal,
    unseal,
    valid_request_id,
)
from deepfort.cluster.errors import to_message
from deepfort.cluster.tls import server_credentials
from deepfort.config import ClusterSettings
from deepfort.crypto.sm import Keyring
from deepfort.errors import DeepfortError, EnvelopeError, InvalidRequestError
from deepfort.protocol import ChatCompletionRequest
from deepfort.serving.call import Caller
from deepfort.serving.pipeline import ChatPipeline
from deepfort.serving.pool import ModelPool
from deepfort.serving.run import Run

log = logging.getLogger(__name__)
M = TypeVar("M", bound=Message)


class Refused(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class ClusterService(pb_grpc.DeepfortServicer):
    def __init__(
        self, pipeline: ChatPipeline, pool: ModelPool, keyring: Keyring, secret: bytes, replay_window_s: float
    ) -> None:
        self.pipeline = pipeline
        self.pool = pool
        self.keyring = keyring
        self.secret = secret
        self.replay = ReplayGuard(replay_window_s)
        self.node = socket.gethostname()

    def _admit(self, context: grpc.aio.ServicerContext[pb.Envelope, pb.Envelope], method: str) -> str:
        meta = dict(context.invocation_metadata() or ())
        request_id = str(meta.get(REQUEST_ID_HEADER, ""))
        if not valid_request_id(request_id):
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "missing or malformed request id")
        try:
            ts = int(str(meta.get(NODE_TS_HEADER, "")))
        except ValueError:
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, "missing node timestamp") from None
        if not check_node_proof(self.secret, method, request_id, ts, str(meta.get(NODE_AUTH_HEADER, ""))):
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, "node secret not proven")
        why = self.replay.check(f"{method}:{request_id}", ts)
        if why is not None:
            raise Refused(grpc.StatusCode.PERMISSION_DENIED, why)
        return request_id

    def _open(self, envelope: pb.Envelope, method: str, request_id: str, into: type[M]) -> M:
        try:
            return unseal(self.keyring, envelope, aad(method, request_id, "request"), into)
        except EnvelopeError as exc:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"bad envelope: {exc.message}") from None

    async def _refuse(
        self, context: grpc.aio.ServicerContext[pb.Envelope, pb.Envelope], method: str, refused: Refused
    ) -> None:
        peer = context.peer()
        log.warning("refused a cluster call", extra={"method": method, "peer": peer, "why": refused.details})
        await context.abort(refused.code, refused.details)

    async def Generate(
        self, request: pb.Envelope, context: grpc.aio.ServicerContext[pb.Envelope, pb.Envelope]
    ) -> AsyncIterator[pb.Envelope]:
        try:
            request_id = self._admit(context, "Generate")
            generate = self._open(request, "Generate", request_id, pb.GenerateRequest)
        except Refused as refused:
            await self._refuse(context, "Generate", refused)
            return
        seq = 0

        def out(event: pb.GenerateEvent) -> pb.Envelope:
            nonlocal seq
            envelope = seal(self.keyring, event, aad("Generate", request_id, "response", seq))
            seq += 1
            return envelope

        try:
            run = await self._start(generate, request_id)
        except DeepfortError as exc:
            yield out(pb.GenerateEvent(error=to_message(exc)))
            return
        finished = False
        try:
            usage = run.usage()
            yield out(
                pb.GenerateEvent(accepted=pb.Accepted(model=run.served, prompt_tokens=usage.prompt_tokens))
            )
            async for event in run.events():
                delta = pb.Delta(
                    index=event.index,
                    content=event.content,
                    reasoning=event.reasoning,
                    finish_reason=event.finish_reason or "",
                )
                yield out(pb.GenerateEvent(delta=delta))
            usage = run.usage()
            reasoning = (
                usage.completion_tokens_details.reasoning_tokens if usage.completion_tokens_details else 0
            )
            yield out(
                pb.GenerateEvent(
                    usage=pb.Usage(
                        prompt_tokens=usage.prompt_tokens,
                        completion_tokens=usage.completion_tokens,
                        reasoning_tokens=reasoning,
                    )
                )
            )
            finished = True
        except DeepfortError as exc:
            yield out(pb.GenerateEvent(error=to_message(exc)))
        finally:
            if not finished:
                # The edge cancelled the call (its client left) or the stream failed: free the slot.
                run.cancel()
            await run.close()

    async def _start(self, generate: pb.GenerateRequest, request_id: str) -> Run:
        if generate.kind != "chat":
            raise InvalidRequestError(f"unsupported generate kind {generate.kind!r}")
        try:
            body = json.loads(generate.body_json)
            request = ChatCompletionRequest.model_validate(body)
        except (ValueError, ValidationError) as exc:
            raise InvalidRequestError(f"invalid forwarded request: {exc}") from None
        # The center answers with its own models (it never forwards again), under its own layers.
        return await self.pipeline.execute(request, Caller(request_id=request_id, forward=False))

    async def _unary(
        self,
        request: pb.Envelope,
        context: grpc.aio.ServicerContext[pb.Envelope, pb.Envelope],
        method: str,
        into: type[M],
    ) -> str:
        """Admit and open a unary call; its request id. A refused call is aborted (this raises)."""
        try:
            request_id = self._admit(context, method)
            self._open(request, method, request_id, into)
        except Refused as refused:
            await self._refuse(context, method, refused)
            raise AssertionError("abort returned") from None
        return request_id

    async def Health(
        self, request: pb.Envelope, context: grpc.aio.ServicerContext[pb.Envelope, pb.Envelope]
    ) -> pb.Envelope:
        request_id = await self._unary(request, context, "Health", pb.HealthRequest)
        stats = [m.engine.stats() for m in self.pool]
        running = sum(s.running for s in stats)
        waiting = sum(s.waiting for s in stats)
        reply = pb.HealthReply(
            status="ok" if self.pool.ready else "loading", node=self.node, running=running, waiting=waiting
        )
        return seal(self.keyring, reply, aad("Health", request_id, "response"))

    async def ListModels(
        self, request: pb.Envelope, context: grpc.aio.ServicerContext[pb.Envelope, pb.Envelope]
    ) -> pb.Envelope:
        request_id = await self._unary(request, context, "ListModels", pb.ListModelsRequest)
        models = [
            pb.ModelInfo(id=m.id, aliases=m.spec.aliases, reasoning=m.parser is not None, ready=m.ready)
            for m in self.pool
        ]
        return seal(
            self.keyring, pb.ListModelsReply(models=models), aad("ListModels", request_id, "response")
        )


async def start_grpc_server(
    service: ClusterService, settings: ClusterSettings
) -> tuple[grpc.aio.Server, int]:
    """Start serving on ``grpc_host:grpc_port``; returns the server and the bound port."""
    server = grpc.aio.server()
    pb_grpc.add_DeepfortServicer_to_server(service, server)
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    credentials = server_credentials(settings.tls)
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    await server.start()
    log.info("cluster gRPC service listening", extra={"address": f"{settings.grpc_host}:{port}"})
    return server, port

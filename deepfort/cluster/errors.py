"""Errors across the gRPC hop: a center's error travels as an ``Error`` message and is raised again on
the edge as the same kind of error."""

from __future__ import annotations

import grpc

from deepfort.cluster import deepfort_pb2 as pb
from deepfort.errors import (
    CenterUnavailableError,
    DeepfortError,
    RetryLaterError,
    UpstreamError,
    center_error,
)


def to_message(exc: DeepfortError) -> pb.Error:
    return pb.Error(
        status=exc.status_code,
        type=exc.error_type,
        code=exc.code or "",
        message=exc.message,
        param=exc.param or "",
        retry_after=exc.retry_after if isinstance(exc, RetryLaterError) else 0,
    )


def from_message(error: pb.Error, target: str) -> DeepfortError:
    """The center's refusal as the error this edge raises, by the same map as an upstream server's HTTP
    status (:func:`deepfort.errors.center_error`): a busy center (429, 503) is `unavailable`, so a routed
    question can still be answered on the edge."""
    return center_error(
        error.status,
        error.message,
        center=f"center {target}",
        param=error.param or None,
        code=error.code or None,
        retry_after=error.retry_after,
    )


def from_rpc(exc: grpc.aio.AioRpcError, target: str) -> DeepfortError:
    code = exc.code()
    details = exc.details() or code.name
    if code in (
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
    ):
        return UpstreamError(f"center {target} refused the call ({code.name}): {details}")
    return CenterUnavailableError(f"center {target} unavailable ({code.name}): {details}", retry_after=5)

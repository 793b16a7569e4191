"""Errors across the gRPC hop: a center's error travels as an ``Error`` message and is raised again on
the edge as the same kind of error."""

from __future__ import annotations

import grpc

from deepfort.cluster import deepfort_pb2 as pb
from deepfort.errors import (
    CenterUnavailableError,
    DeepfortError,
    InvalidRequestError,
    ModelNotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    UpstreamError,
)


def to_message(exc: DeepfortError) -> pb.Error:
    return pb.Error(
        status=exc.status_code,
        type=exc.error_type,
        code=exc.code or "",
        message=exc.message,
        param=exc.param or "",
        retry_after=exc.retry_after if isinstance(exc, ServiceUnavailableError) else 0,
    )


def from_message(error: pb.Error, target: str) -> DeepfortError:
    """The center's refusal as the error this edge raises. A busy center (503) is `unavailable`, so a
    routed question can still be answered on the edge."""
    param, code = error.param or None, error.code or None
    message = f"center {target}: {error.message}"
    if error.status == 404:
        return ModelNotFoundError(message, param=param)
    if error.status == 413:
        return PayloadTooLargeError(message, param=param)
    if 400 <= error.status < 500:
        return InvalidRequestError(message, param=param, code=code)
    if error.status == 503:
        return CenterUnavailableError(message, retry_after=max(error.retry_after, 1), code=code)
    return UpstreamError(message, code=code)


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

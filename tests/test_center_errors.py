"""One map from a center's refusal to deepfort's errors, whether the center is an OpenAI-compatible server
answering HTTP (``engines.upstream.status_error``) or a deepfort center answering over gRPC
(``cluster.errors.from_message``)."""

from __future__ import annotations

import httpx
import pytest

from deepfort.cluster import deepfort_pb2 as pb
from deepfort.cluster.errors import from_message, to_message
from deepfort.engines.upstream import status_error
from deepfort.errors import (
    CenterUnavailableError,
    ContextLengthExceededError,
    DeepfortError,
    InvalidRequestError,
    ModelNotFoundError,
    PayloadTooLargeError,
    QueueFullError,
    RateLimitError,
    UpstreamError,
    center_error,
)

# status, the center's code, the error raised here, its code, its retry_after (None: not a RetryLaterError)
STATUS_MAP = [
    (429, "rate_limit_exceeded", CenterUnavailableError, "center_unavailable", 7),
    (503, "queue_full", CenterUnavailableError, "center_unavailable", 7),
    (401, "invalid_api_key", UpstreamError, None, None),
    (403, "permission_denied", UpstreamError, None, None),
    (404, "model_not_found", ModelNotFoundError, "model_not_found", None),
    (413, "payload_too_large", PayloadTooLargeError, "payload_too_large", None),
    (400, None, InvalidRequestError, None, None),
    (400, "context_length_exceeded", ContextLengthExceededError, "context_length_exceeded", None),
    (422, "sensitive_input", InvalidRequestError, "sensitive_input", None),
    (418, None, InvalidRequestError, None, None),
    (500, None, UpstreamError, None, None),
    (502, None, UpstreamError, None, None),
    (504, None, UpstreamError, None, None),
]
IDS = [f"{status}-{code}" for status, code, *_ in STATUS_MAP]


@pytest.mark.parametrize(("status", "code", "error", "error_code", "retry_after"), STATUS_MAP, ids=IDS)
def test_center_error(
    status: int, code: str | None, error: type[DeepfortError], error_code: str | None, retry_after: int | None
) -> None:
    raised = center_error(status, "no", param="messages", code=code, retry_after=7)
    assert type(raised) is error
    assert raised.code == error_code
    assert getattr(raised, "retry_after", None) == retry_after
    assert raised.message.startswith("the center ") and raised.message.endswith(": no")


@pytest.mark.parametrize(("status", "code", "error", "error_code", "retry_after"), STATUS_MAP, ids=IDS)
def test_http_and_grpc_centers_map_alike(
    status: int, code: str | None, error: type[DeepfortError], error_code: str | None, retry_after: int | None
) -> None:
    body = {"error": {"message": "no", "type": "x", "param": "messages", "code": code}}
    over_http = status_error(httpx.Response(status, json=body, headers={"Retry-After": "7"}))
    message = pb.Error(status=status, message="no", param="messages", code=code or "", retry_after=7)
    over_grpc = from_message(message, "grpc://c1")
    for raised in (over_http, over_grpc):
        assert type(raised) is error
        assert raised.code == error_code
        assert getattr(raised, "retry_after", None) == retry_after
    assert over_grpc.message.startswith("center grpc://c1 ")


def test_a_busy_center_waits_at_least_a_second() -> None:
    assert center_error(503, "busy", retry_after=0).retry_after == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "refusal",
    [QueueFullError("full", retry_after=9), RateLimitError("slow down", retry_after=9)],
    ids=["503", "429"],
)
def test_a_centers_retry_after_crosses_the_grpc_hop(refusal: DeepfortError) -> None:
    raised = from_message(to_message(refusal), "grpc://c1")
    assert isinstance(raised, CenterUnavailableError) and raised.retry_after == 9

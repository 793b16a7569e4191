"""One exception tree for deepfort.

Every class knows the HTTP status it maps to and the OpenAI error ``type`` and ``code`` it carries, so the
API boundary turns any of them into ``{"error": {"message", "type", "param", "code"}}`` without looking at
the message text.

    DeepfortError                      500 server_error
    ├── ConfigError                    500 server_error          bad settings file, plugin that fails to load
    │   └── UnknownNameError           500 server_error          no engine, parser, node type... by that name
    ├── InvalidRequestError            400 invalid_request_error
    │   ├── ContextLengthExceededError 400 ... code=context_length_exceeded
    │   ├── PayloadTooLargeError       413 ... code=payload_too_large
    │   └── SensitiveInputError        400 ... code=sensitive_input  PII found under the `block` policy
    ├── AuthenticationError            401 invalid_request_error code=invalid_api_key
    ├── PermissionDeniedError          403 permission_error      role or model not allowed for the key
    ├── NotFoundError                  404 invalid_request_error code=not_found  (conversations, ...)
    ├── ModelNotFoundError             404 invalid_request_error code=model_not_found
    ├── RetryLaterError                (carries retry_after seconds, sent as Retry-After)
    │   ├── RateLimitError             429 rate_limit_exceeded
    │   └── ServiceUnavailableError    503 service_unavailable
    │       ├── QueueFullError         503 ... code=queue_full
    │       ├── ModelNotReadyError     503 ... code=model_not_ready
    │       └── CenterUnavailableError 503 ... code=center_unavailable  a center is unreachable or failed
    ├── EngineError                    500 server_error          the engine failed while generating
    │   └── UpstreamError              502 upstream_error        a center answered with nonsense or a fault
    └── CryptoError                    500 server_error          a key or keyring cannot be used
        ├── EnvelopeError              400 ... code=bad_envelope a sealed message failed to open
        └── RecordIntegrityError       500 ... code=record_integrity  a stored record failed to decrypt

A center's refusal, whether an OpenAI-compatible server's HTTP status or a deepfort center's error carried
over gRPC, becomes one of these through one map, :func:`center_error`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar


class DeepfortError(Exception):
    """Base of every error deepfort raises on purpose."""

    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code

    def to_dict(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class ConfigError(DeepfortError):
    """The settings or a model file cannot be used."""


class UnknownNameError(ConfigError):
    """Nothing of a kind (engine, reasoning parser, workflow node type, image backend) is registered under
    ``name``; the message lists the ``known`` names. Subclasses set ``default_kind``."""

    default_kind: ClassVar[str] = "name"

    def __init__(self, name: str, known: Iterable[str], *, kind: str | None = None) -> None:
        self.name = name
        self.known = sorted(known)
        self.kind = kind or self.default_kind
        super().__init__(f"unknown {self.kind} {name!r} (known: {', '.join(self.known) or 'none'})")

    def __str__(self) -> str:
        # A subclass that is also a KeyError would repr() the message; it is meant for people.
        return self.message


class InvalidRequestError(DeepfortError):
    """The client sent something we cannot serve."""

    status_code = 400
    error_type = "invalid_request_error"


class ContextLengthExceededError(InvalidRequestError):
    default_code = "context_length_exceeded"


class PayloadTooLargeError(InvalidRequestError):
    status_code = 413
    default_code = "payload_too_large"


class SensitiveInputError(InvalidRequestError):
    """Personal data was found and the policy is ``block``; the message names the kinds, never values."""

    default_code = "sensitive_input"


class AuthenticationError(DeepfortError):
    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDeniedError(DeepfortError):
    status_code = 403
    error_type = "permission_error"
    default_code = "permission_denied"


class NotFoundError(DeepfortError):
    status_code = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class ModelNotFoundError(DeepfortError):
    status_code = 404
    error_type = "invalid_request_error"
    default_code = "model_not_found"


class RetryLaterError(DeepfortError):
    """The client may try again after ``retry_after`` seconds (the Retry-After header)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: int = 1,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code)
        self.retry_after = retry_after


class RateLimitError(RetryLaterError):
    """A key's request rate or token quota is used up until ``retry_after`` seconds from now."""

    status_code = 429
    error_type = "rate_limit_exceeded"
    default_code = "rate_limit_exceeded"


class ServiceUnavailableError(RetryLaterError):
    """Temporarily unable to serve; the client should retry after ``retry_after`` seconds."""

    status_code = 503
    error_type = "service_unavailable"


class QueueFullError(ServiceUnavailableError):
    default_code = "queue_full"


class ModelNotReadyError(ServiceUnavailableError):
    default_code = "model_not_ready"


class CenterUnavailableError(ServiceUnavailableError):
    """A center (upstream server or deepfort node) could not be reached, timed out or broke off; the
    router may answer on the edge instead."""

    default_code = "center_unavailable"


class EngineError(DeepfortError):
    """The inference engine failed while serving a request."""


class UpstreamError(EngineError):
    """A center answered, but with a fault or something we cannot read (bad credentials, broken stream)."""

    status_code = 502
    error_type = "upstream_error"


class CryptoError(DeepfortError):
    """A key, keyring or keyring file cannot be used (missing, malformed, readable by others)."""


class EnvelopeError(CryptoError):
    """A sealed message failed to open: tampered, unknown key id, wrong request or method (AAD)."""

    status_code = 400
    error_type = "invalid_request_error"
    default_code = "bad_envelope"


class RecordIntegrityError(CryptoError):
    """A stored encrypted field did not decrypt: tampered, moved to another record, or its key is gone."""

    default_code = "record_integrity"


def center_error(
    status: int,
    detail: str,
    *,
    center: str = "the center",
    param: str | None = None,
    code: str | None = None,
    retry_after: int = 1,
) -> DeepfortError:
    """The error for a center's refusal with HTTP ``status``; ``detail`` is the center's own message.

    ===========  ============================  =====================================================
    status       error                         why
    ===========  ============================  =====================================================
    429, 503     CenterUnavailableError        the center is busy: retry after ``retry_after``, or
                                               answer a routed question on the edge (the center's
                                               ``code`` is dropped: its 429 is about *our* key)
    401, 403     UpstreamError                 the center refused *our* credentials, not the client's
    404          ModelNotFoundError            the center does not serve the model
    413          PayloadTooLargeError          the request is too large for the center too
    other 4xx    InvalidRequestError           the client's request is at fault (``code`` kept;
                                               ``context_length_exceeded`` gets its own class)
    other        UpstreamError                 the center failed (5xx) or answered nonsense
    ===========  ============================  =====================================================
    """
    if status in (429, 503):
        # The center's own code (rate_limit_exceeded, queue_full) is about our key or its queue.
        return CenterUnavailableError(
            f"{center} is busy (HTTP {status}): {detail}", retry_after=max(retry_after, 1)
        )
    if status in (401, 403):
        return UpstreamError(f"{center} rejected our credentials (HTTP {status}): {detail}")
    if status == 404:
        return ModelNotFoundError(f"{center} does not serve this model: {detail}", param=param)
    if status == 413:
        return PayloadTooLargeError(f"{center} found the request too large: {detail}", param=param)
    if 400 <= status < 500:
        cls = ContextLengthExceededError if code == "context_length_exceeded" else InvalidRequestError
        return cls(f"{center} rejected the request: {detail}", param=param, code=code)
    return UpstreamError(f"{center} answered HTTP {status}: {detail}", code=code)

"""One exception tree for deepfort.

Every class knows the HTTP status it maps to and the OpenAI error ``type`` and ``code`` it carries, so the
API boundary turns any of them into ``{"error": {"message", "type", "param", "code"}}`` without looking at
the message text.

    DeepfortError                      500 server_error
    ├── ConfigError                    500 server_error          bad settings file, unknown parser name
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
"""

from __future__ import annotations

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

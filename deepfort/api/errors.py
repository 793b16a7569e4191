"""The one boundary where exceptions become OpenAI-shaped error responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from deepfort.errors import (
    AuthenticationError,
    DeepfortError,
    InvalidRequestError,
    RetryLaterError,
)

log = logging.getLogger(__name__)


def error_response(error: DeepfortError) -> JSONResponse:
    headers = {}
    if isinstance(error, RetryLaterError):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error.to_dict(), status_code=error.status_code, headers=headers)


def _validation_error(exc: RequestValidationError) -> InvalidRequestError:
    errors = exc.errors()
    if not errors:
        return InvalidRequestError("invalid request")
    first = errors[0]
    param = _param_path(first.get("loc", ())) or None
    message = str(first.get("msg", "invalid value"))
    if param:
        message = f"{param}: {message}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return InvalidRequestError(message, param=param, code="invalid_value")


_ROLE_TAGS = {"system", "developer", "user", "assistant", "tool"}
_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


def _param_path(loc: tuple[object, ...] | list[object]) -> str:
    """``body.messages.0.user.content.str`` -> ``messages.0.content``: pydantic adds union member names
    (the role tag, the tried type) to the path; clients want the field."""
    parts: list[str] = []
    prev: object = None
    for item in loc:
        text = str(item)
        skip = (
            (not parts and text == "body")
            or (isinstance(prev, int) and text in _ROLE_TAGS)
            or text in _TYPE_TAGS
            or "[" in text
        )
        if not skip:
            parts.append(text)
        prev = item
    return ".".join(parts)


def _count(request: Request, error: DeepfortError) -> None:
    """``deepfort:request_errors_total{code}``, when the node is up (errors can precede it)."""
    node = getattr(request.app.state, "node", None)
    if node is not None:
        node.metrics.request_failed(code=error.code or str(error.status_code), status=error.status_code)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DeepfortError)
    async def _deepfort(request: Request, exc: DeepfortError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("request failed: %s", exc.message)
        _count(request, exc)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        error = _validation_error(exc)
        _count(request, error)
        return error_response(error)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":  # no route: OpenAI's wording
            message = f"Invalid URL ({request.method} {request.url.path})"
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

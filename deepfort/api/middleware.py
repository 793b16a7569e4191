"""ASGI middleware: request ids, and the body guard (size limit, UTF-8, JSON) before any route runs."""

from __future__ import annotations

import json
import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deepfort.errors import DeepfortError, InvalidRequestError, PayloadTooLargeError

REQUEST_ID_HEADER = b"x-request-id"
ACCESS_STATE = "access"
"""Key in the request state of the fields a route adds to its access-log line."""
log = logging.getLogger("deepfort.access")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def send_error(send: Send, error: DeepfortError, request_id: str) -> None:
    body = json.dumps(error.to_dict()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (REQUEST_ID_HEADER, request_id.encode()),
    ]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestIdMiddleware:
    """Honour the client's ``x-request-id`` or make one; echo it on the response and log the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, REQUEST_ID_HEADER)
        request_id = given if given and len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != REQUEST_ID_HEADER]
                message = {**message, "headers": [*headers, (REQUEST_ID_HEADER, request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            latency = round((time.perf_counter() - started) * 1000, 2)
            # Routes that generate add what they know (key, model, tier, tokens, TTFT, finish reason).
            detail = scope["state"].get(ACCESS_STATE, {})
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": latency,
                    "latency_ms": latency,
                    **detail,
                },
            )


class BodyGuardMiddleware:
    """Reject bodies over ``max_bytes`` (413), not UTF-8 or not JSON (400) with OpenAI-shaped errors.

    The checked body is replayed to the app; after it, ``receive`` passes through so routes can still
    notice the client going away.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id", "")
        too_large = PayloadTooLargeError(f"request body exceeds the limit of {self.max_bytes} bytes")
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_error(send, too_large, request_id)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await send_error(send, too_large, request_id)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if content_type in ("", "application/x-www-form-urlencoded", "text/plain"):
            # curl -d sends a form content type; every body this API takes is JSON, as llama-server assumes.
            headers = [h for h in scope.get("headers", []) if h[0].lower() != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
            content_type = "application/json"
        if body and content_type == "application/json":
            error = _check_json(body)
            if error is not None:
                await send_error(send, error, request_id)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _check_json(body: bytes) -> InvalidRequestError | None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return InvalidRequestError(
            f"request body is not valid UTF-8 (byte {exc.start})", code="invalid_encoding"
        )
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return InvalidRequestError(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            code="invalid_json",
        )
    return None

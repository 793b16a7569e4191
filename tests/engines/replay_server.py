"""A loopback HTTP server that plays an OpenAI-compatible center from recorded stream fixtures.

POST ``/v1/chat/completions`` answers with the chosen fixture's bytes as a chunked ``text/event-stream``
(one HTTP chunk per event, or pieces of a fixed size), or with a chosen error status and body. GET
``/v1/models`` lists one model. Every request's body and headers are kept for the test to look at.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "upstream"
MODEL_ID = "replay-model"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: object
    client_port: int  # the same port twice means a reused connection


@dataclass
class Script:
    """What the next answers look like; tests set fields on ``server.script``."""

    stream: bytes = b""
    status: int = 200
    body: bytes = b""  # for a non-2xx status
    headers: dict[str, str] = field(default_factory=dict)
    piece: int | None = None  # write the stream in pieces of this many bytes instead of per event
    delay: float = 0.0  # seconds between pieces
    abort: bool = False  # drop the connection instead of ending the chunked body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.server.requests.append(Request("GET", self.path, _headers(self), None, self.client_address[1]))
        script = self.server.script
        if self.path != "/v1/models":
            self._reply(404, b'{"detail":"Not Found"}', {})
        elif script.status != 200:
            self._reply(script.status, script.body, script.headers)
        else:
            self._reply(200, json.dumps({"object": "list", "data": [{"id": MODEL_ID}]}).encode(), {})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.server.requests.append(Request("POST", self.path, _headers(self), body, self.client_address[1]))
        script = self.server.script
        if self.path != "/v1/chat/completions":
            self._reply(404, b'{"detail":"Not Found"}', {})
            return
        if script.status != 200:
            self._reply(script.status, script.body, script.headers)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            for piece in _pieces(script.stream, script.piece):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                if script.delay:
                    time.sleep(script.delay)
            if script.abort:
                self.close_connection = True
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            self.server.disconnected.set()

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _headers(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    return {name.lower(): value for name, value in handler.headers.items()}


def _pieces(stream: bytes, size: int | None) -> list[bytes]:
    if size is not None:
        return [stream[i : i + size] for i in range(0, len(stream), size)]
    # One piece per event, each with its own blank line (LF or CRLF), as servers flush them.
    return [piece for piece in re.split(rb"(?<=\r\n\r\n)|(?<=\n\n)", stream) if piece]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = Script()
        self.requests: list[Request] = []
        self.disconnected = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        # A client closing its end between requests is normal here; anything else is a bug in a test.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class ReplayServer:
    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()

    @property
    def v1(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def script(self) -> Script:
        return self._server.script

    @property
    def requests(self) -> list[Request]:
        return self._server.requests

    @property
    def disconnected(self) -> threading.Event:
        return self._server.disconnected

    def reset(self) -> None:
        self._server.script = Script()
        self._server.requests.clear()
        self._server.disconnected.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

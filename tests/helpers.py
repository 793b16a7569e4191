"""Small helpers the server tests share."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def wait_until(check: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``limit`` seconds (a deadline, not a
    timing assertion: the conditions are engine states)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def same_or_rounding(solo: dict[str, Any], batched: dict[str, Any]) -> None:
    """Greedy outputs must match token for token, except that recomputing a sequence (after preemption,
    or from cached cells) may round differently: then they may part only where the two best candidates
    were all but tied, never where one token clearly led."""
    # Quantized kernels for one token and for a batch of tokens accumulate differently: the same token's
    # log-probability moves by a few hundredths. Corrupted state (wrong positions, another sequence's
    # cells) moves it by whole units.
    tolerance = 0.3
    a = solo["choices"][0]["logprobs"]["content"]
    b = batched["choices"][0]["logprobs"]["content"]
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if x["token"] != y["token"]:
            top = x["top_logprobs"]
            assert abs(top[0]["logprob"] - top[1]["logprob"]) < tolerance, (x, y)
            return
        assert abs(x["logprob"] - y["logprob"]) < tolerance, (x, y)


def read_tokens(lines: Iterator[str], count: int) -> None:
    """Read ``count`` content chunks of an SSE stream. Keep one line iterator per stream: dropping an
    httpx iterator closes the connection, which is a disconnect."""
    seen = 0
    for line in lines:
        if '"content":"' in line and '"content":""' not in line:
            seen += 1
            if seen == count:
                return
    raise AssertionError("stream ended early")


class JsonEndpoint(BaseHTTPRequestHandler):
    """Base of the scripted HTTP endpoints tests stand up on loopback: answers JSON, logs nothing."""

    def send_json(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up waiting (the timeout cases)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def loopback_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (a free port) from a thread; yields the base URL. Release anything
    a handler waits on before leaving, or the shutdown waits for it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

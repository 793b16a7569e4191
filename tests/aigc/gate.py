"""A loopback HTTP endpoint that holds each request until the test opens it: the `http` node's other end
in tests that need a run to stay in the middle of a node (a crash, a reconnecting client)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOLD_S = 120  # a test that never opens the gate fails on its own guard long before this


class Gate:
    def __init__(self, url: str) -> None:
        self.url = url
        self.opened = threading.Event()
        self.arrived = threading.Semaphore(0)
        self.hits = 0

    def wait_for_request(self, timeout: float = 60) -> None:
        if not self.arrived.acquire(timeout=timeout):
            raise AssertionError("no request reached the gate")


@contextmanager
def running_gate() -> Iterator[Gate]:
    gate: Gate

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            gate.hits += 1
            gate.arrived.release()
            gate.opened.wait(HOLD_S)
            body = json.dumps({"ok": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    gate = Gate(f"http://127.0.0.1:{server.server_address[1]}/gate")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gate
    finally:
        gate.opened.set()
        server.shutdown()
        server.server_close()

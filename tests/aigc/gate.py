"""A loopback HTTP endpoint that holds each request until the test opens it: the `http` node's other end
in tests that need a run to stay in the middle of a node (a crash, a reconnecting client)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.helpers import JsonEndpoint, loopback_http

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

    class Handler(JsonEndpoint):
        def do_GET(self) -> None:
            gate.hits += 1
            gate.arrived.release()
            gate.opened.wait(HOLD_S)
            self.send_json(200, json.dumps({"ok": True}).encode())

    with loopback_http(Handler) as url:
        gate = Gate(f"{url}/gate")
        try:
            yield gate
        finally:
            gate.opened.set()

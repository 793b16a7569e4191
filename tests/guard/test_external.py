"""The external moderation hook against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from deepfort.config import ModerationSettings
from deepfort.guard.external import ExternalModerator, ExternalVerdict
from tests.helpers import JsonEndpoint, loopback_http

RELEASE_SLOW = threading.Event()
RECEIVED: list[object] = []


def result(flagged: bool, **categories: bool) -> bytes:
    return json.dumps({"id": "modr-1", "results": [{"flagged": flagged, "categories": categories}]}).encode()


ANSWERS = {
    "/flagged": (200, result(True, violence=True, hate=False, weapons=True)),
    "/clean": (200, result(False, violence=False)),
    "/slow": (200, result(False)),
    "/error": (500, b'{"error": "boom"}'),
    "/not-json": (200, b"<html>gateway</html>"),
    "/wrong-shape": (200, b'{"results": [{"categories": {}}]}'),
}


class Handler(JsonEndpoint):
    def do_POST(self) -> None:
        RECEIVED.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        if self.path == "/slow":
            RELEASE_SLOW.wait(5)
        self.send_json(*ANSWERS[self.path])


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    RELEASE_SLOW.clear()
    with loopback_http(Handler) as url:
        yield url
        RELEASE_SLOW.set()


def check(url: str, timeout_s: float, fail_open: bool) -> ExternalVerdict:
    async def run() -> ExternalVerdict:
        async with ExternalModerator(url, timeout_s, fail_open) as moderator:
            return await moderator.check("要审核的文本")

    return asyncio.run(run())


# (id, path, fail_open, flagged, categories, error contains)
CASES = [
    ("flagged", "/flagged", True, True, ["violence", "weapons"], None),
    ("clean", "/clean", False, False, [], None),
    ("slow-fail-open", "/slow", True, False, [], "no answer within 0.3s"),
    ("slow-fail-closed", "/slow", False, True, [], "no answer within 0.3s"),
    ("http-500-fail-open", "/error", True, False, [], "HTTP 500"),
    ("http-500-fail-closed", "/error", False, True, [], "HTTP 500"),
    ("not-json", "/not-json", True, False, [], "unexpected answer"),
    ("wrong-shape", "/wrong-shape", False, True, [], "unexpected answer"),
]


@pytest.mark.parametrize(
    ("path", "fail_open", "flagged", "categories", "error"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_external(
    base_url: str, path: str, fail_open: bool, flagged: bool, categories: list[str], error: str | None
) -> None:
    RECEIVED.clear()
    verdict = check(base_url + path, 0.3, fail_open)
    assert (verdict.flagged, verdict.categories) == (flagged, categories)
    if error is None:
        assert verdict.error is None
    else:
        assert verdict.error is not None and error in verdict.error
    assert RECEIVED == [{"input": "要审核的文本"}]


@pytest.mark.parametrize("fail_open", [True, False])
def test_unreachable(fail_open: bool) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    verdict = check(f"http://127.0.0.1:{port}/moderate", 1.0, fail_open)
    assert verdict.flagged is not fail_open
    assert verdict.error is not None and verdict.error.startswith("external moderation failed: Connect")


def test_from_settings() -> None:
    assert ExternalModerator.from_settings(ModerationSettings()) is None
    assert ExternalModerator.from_settings(ModerationSettings(enabled=False, external_url="http://x")) is None
    built = ExternalModerator.from_settings(
        ModerationSettings(external_url="http://x/m", external_timeout_s=1.5, fail_open=False)
    )
    assert built is not None
    assert (built.url, built.timeout_s, built.fail_open) == ("http://x/m", 1.5, False)
    asyncio.run(built.aclose())

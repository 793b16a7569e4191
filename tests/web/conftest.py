"""Fixtures for the console's browser tests: Debian's headless Chromium (never Playwright's own download)
driven by Playwright against a real `deepfort serve` that requires API keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from deepfort.api.web import STATIC_DIR
from tests.conftest import R1_STYLE_TEMPLATE, Server, start_server, stop_server

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 60_000
"""Generous: two shared cores run the model and the browser."""

CONFIG: dict[str, object] = {
    "server": {"max_body_bytes": 65536},
    "models": [
        {"id": "smollm2-135m", "n_ctx": 2048, "n_parallel": 2},
        # The embedded weights behind a template that opens <think>: reasoning, then (with a small
        # thinking budget) an answer.
        {
            "id": "smol-r1",
            "path": None,
            "n_ctx": 1024,
            "n_parallel": 2,
            "reasoning_parser": "deepseek_r1",
            "chat_template": R1_STYLE_TEMPLATE,
        },
    ],
}


def create_key(data_dir: Path, name: str, role: str, *options: str) -> str:
    env = {**os.environ, "DEEPFORT_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "deepfort", "keys", "create", "--name", name, "--role", role, "--json"]
    command += options
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    token: str = json.loads(result.stdout)["key"]
    return token


@dataclass
class Console:
    server: Server
    admin_key: str
    user_key: str
    limited_key: str
    """A user key allowed one request a minute."""

    @property
    def url(self) -> str:
        return self.server.base_url

    def get(self, path: str, key: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {key or self.admin_key}"}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Per module: while Playwright's sync API is started, its event loop runs in this thread, and every
    later ``asyncio.run`` in the session (other modules' ASGI tests) would fail."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: run `make tools`")
    if not (STATIC_DIR / "index.html").is_file():
        pytest.fail(f"the console is not built in {STATIC_DIR}: run `make web`")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    data = tmp / "data"
    admin_key = create_key(data, "console-admin", "admin")
    user_key = create_key(data, "console-user", "user")
    # A day-long window: the counter is a fixed window, and two requests a minute apart could straddle
    # a minute boundary (it happened in a full run) and both pass.
    limited_key = create_key(data, "console-limited", "user", "--rate", "1/day")
    server = start_server(CONFIG, tmp)
    yield Console(server=server, admin_key=admin_key, user_key=user_key, limited_key=limited_key)
    stop_server(server)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == [], f"errors in the page: {errors}"


def sign_in(page: Page, console: Console, key: str | None = None) -> None:
    page.goto(console.url)
    page.get_by_label("API key").fill(key or console.admin_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Message")).to_be_visible()

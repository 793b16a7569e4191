"""The console route (deepfort/api/web.py) on the real app: built files, the SPA fallback, API paths never
shadowed, nothing outside the build directory served, and the page shown when nothing is built."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from deepfort.api.app import build_app
from deepfort.api.web import RESERVED, STATIC_DIR
from deepfort.config import Settings
from tests.helpers import wait_until

INDEX = "<!doctype html><title>console</title>"


def call(app: FastAPI, method: str, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, headers={"accept": "text/html"})

    return asyncio.run(go())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    static = tmp_path_factory.mktemp("static")
    (static / "assets").mkdir()
    (static / "index.html").write_text(INDEX)
    (static / "assets" / "index-abc123.js").write_text("console.log(1)")
    (static / "assets" / "KaTeX_Main-Regular-x1.woff2").write_bytes(b"wOF2")
    (static / "favicon.svg").write_text("<svg/>")
    (static.parent / "secret.txt").write_text("not for the web")
    app = build_app(Settings(), models=[])
    app.state.web_static_dir = static
    return app


@pytest.mark.parametrize(
    ("path", "media_type", "cache"),
    [
        ("/", "text/html", "no-cache"),
        ("/index.html", "text/html", "no-cache"),
        ("/c/0b6c8f0e-1f2a-4c55-9a40-2f6b8f1d9e11", "text/html", "no-cache"),
        ("/manage", "text/html", "no-cache"),  # the console's admin view
        ("/settings/deep/link", "text/html", "no-cache"),
        ("/assets/index-abc123.js", "text/javascript", "immutable"),
        ("/assets/KaTeX_Main-Regular-x1.woff2", "font/woff2", "immutable"),
        ("/favicon.svg", "image/svg+xml", "no-cache"),
    ],
)
def test_console_files_and_fallback(built: FastAPI, path: str, media_type: str, cache: str) -> None:
    response = call(built, "GET", path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert cache in response.headers["cache-control"]
    if media_type == "text/html":
        assert response.text == INDEX
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/nope",
        "/v1",
        "/admin",
        "/admin/nope",
        "/health/x",
        "/stats/x",
        "/metrics/x",
        "/docs/x",
        "/openapi.json/x",
        "/generate/x",
        "/tokenize/x",
        "/detokenize/x",
    ],
)
def test_api_paths_are_never_shadowed(built: FastAPI, path: str) -> None:
    response = call(built, "GET", path)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_api_routes_still_answer(built: FastAPI) -> None:
    assert call(built, "GET", "/health").json() == {"status": "ok"}
    assert call(built, "GET", "/openapi.json").json()["info"]["title"] == "deepfort"
    assert "swagger" in call(built, "GET", "/docs").text.lower()


def test_reserved_names_cover_every_api_route(built: FastAPI) -> None:
    """A new API surface must join RESERVED, or a typo in its paths would get the console page."""
    firsts = {
        path.lstrip("/").split("/", 1)[0]
        for route in built.routes
        if (path := getattr(route, "path", "")) and not path.startswith("/{path")
    }
    assert firsts - {""} <= set(RESERVED)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_behave_as_without_the_console(built: FastAPI, method: str) -> None:
    response = call(built, method, "/somewhere")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_head_is_answered(built: FastAPI) -> None:
    assert call(built, "HEAD", "/c/x").status_code == 200


@pytest.mark.parametrize(
    "path", ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/assets/..%2f..%2fsecret.txt"]
)
def test_nothing_outside_the_build_is_served(built: FastAPI, path: str) -> None:
    response = call(built, "GET", path)
    assert "not for the web" not in response.text


@pytest.fixture(scope="module")
def listening(built: FastAPI) -> Iterator[int]:
    """The built app behind uvicorn on a loopback port (a thread, not a process): httpx normalises `..` out
    of a URL before sending it, so the traversal requests go out over http.client exactly as written."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(built, lifespan="off", ws="none", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, "uvicorn is listening", limit=30)
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def raw_get(port: int, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Accept": "text/html"})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


# Outside assets/, a path that leads out of the build gets the console page; under assets/, a 404.
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/../secret.txt", 200),
        ("/%2e%2e/secret.txt", 200),
        ("/..%2fsecret.txt", 200),
        ("/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc/passwd", 200),
        ("/assets/../../secret.txt", 404),
        ("/assets/../../../../../../../../../etc/passwd", 404),
        ("/assets/%2e%2e/%2e%2e/secret.txt", 404),
        ("/assets/..%2f..%2fsecret.txt", 404),
    ],
)
def test_raw_traversal_paths_stay_inside_the_build(listening: int, path: str, status: int) -> None:
    code, body = raw_get(listening, path)
    assert code == status
    assert body == (INDEX if status == 200 else "not found")


def test_a_missing_asset_is_a_404_not_the_page(built: FastAPI) -> None:
    response = call(built, "GET", "/assets/index-old.js")
    assert response.status_code == 404
    assert INDEX not in response.text


def test_without_a_build_the_root_says_how_to_make_one(tmp_path: Path) -> None:
    app = build_app(Settings(), models=[])
    app.state.web_static_dir = tmp_path / "missing"
    for path in ("/", "/c/abc"):
        response = call(app, "GET", path)
        assert response.status_code == 200
        assert "make web" in response.text
    assert call(app, "GET", "/v1/nope").status_code == 404


def test_the_build_lands_inside_the_package() -> None:
    """vite.config.ts writes where the route reads (and where the wheel's package data is)."""
    config = (Path(__file__).parents[2] / "web" / "vite.config.ts").read_text()
    assert 'outDir: "../deepfort/web/static"' in config
    assert Path(__file__).parents[2] / "deepfort" / "web" / "static" == STATIC_DIR

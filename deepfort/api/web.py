"""The web console at ``/``: the files ``make web`` builds into ``deepfort/web/static``.

Any other GET path that is not an API path gets ``index.html`` (the console routes in the browser:
``/c/<conversation>``, ``/manage``). API paths are never shadowed: the console's route does not even match
them, so an unknown ``/v1/...`` path still gets the API's own JSON 404, and methods other than GET and
HEAD behave exactly as without the console (an unknown path: the same JSON 404). Without a build, ``/``
says how to make one.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
"""Where ``npm run build`` in ``web/`` writes the console (inside the package, so wheels carry it)."""

RESERVED: tuple[str, ...] = ("v1", "admin", "health", "ready", "stats", "metrics", "docs", "redoc")
RESERVED += ("openapi.json", "generate", "tokenize", "detokenize", "tokenizer_info")
"""First path segments that belong to the API: an unknown path under one gets the API's JSON 404, never the
console's page (a client probing ``GET /tokenizer_info`` must not read HTML with 200 as an answer)."""

# The console loads nothing from elsewhere; KaTeX sets inline styles, so style attributes are allowed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# Python 3.11's mimetypes table lacks some of what a Vite build emits.
MEDIA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".map": "application/json",
    ".txt": "text/plain",
}
IMMUTABLE = "public, max-age=31536000, immutable"
"""Files under ``assets/`` carry a content hash in their names."""

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>deepfort</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>deepfort</h1>
<p>The API is up at <a href="/v1/models">/v1</a>; its documentation is at <a href="/docs">/docs</a>.</p>
<p>The web console has not been built in this installation ({where}). Build it from a source checkout
with <code>make web</code> (needs Node.js 20 and npm; <code>make serve</code> does it too), then reload.</p>
<p>控制台尚未构建。请在源码目录中运行 <code>make web</code>（需要 Node.js 20 与 npm），然后刷新本页。</p>
</body></html>
"""


def is_api_path(path: str) -> bool:
    first = path.lstrip("/").split("/", 1)[0]
    return first in RESERVED


class ConsoleRoute(APIRoute):
    """Matches GET/HEAD on non-API paths only, so every other request routes as if it were absent."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or is_api_path(scope["path"]):
            return Match.NONE, {}
        return super().matches(scope)


router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _file(path: Path, cache: str) -> FileResponse:
    headers = {**SECURITY_HEADERS, "Cache-Control": cache}
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix.lower()), headers=headers)


def resolve(static_dir: Path, path: str) -> Path | None:
    """The file under ``static_dir`` that ``path`` names, or None (never anything outside it)."""
    if not path or "\x00" in path:
        return None
    candidate = (static_dir / path).resolve()
    if not candidate.is_relative_to(static_dir.resolve()) or not candidate.is_file():
        return None
    return candidate


@router.api_route("/{path:path}", methods=["GET", "HEAD"])
async def console(path: str, request: Request) -> Response:
    static_dir: Path = getattr(request.app.state, "web_static_dir", STATIC_DIR)
    index = static_dir / "index.html"
    if not index.is_file():
        where = html.escape(str(static_dir))
        return HTMLResponse(NOT_BUILT.format(where=where), headers=dict(SECURITY_HEADERS))
    found = resolve(static_dir, path)
    if found is not None and found != index.resolve():
        cache = IMMUTABLE if path.startswith("assets/") else "no-cache"
        return _file(found, cache)
    if path.startswith("assets/"):
        # A stale page asking for an asset of an older build: a 404, not the page itself.
        return Response("not found", status_code=404, media_type="text/plain", headers=_plain_headers())
    return _file(index, "no-cache")


def _plain_headers() -> dict[str, str]:
    return {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}

"""`http`: a GET or POST to an allow-listed host. Off by default: with no allowed hosts every call fails."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from deepfort.aigc.workflow.nodes.base import NodeContext, NodeResult, Param
from deepfort.aigc.workflow.nodes.media import MediaNode
from deepfort.aigc.workflow.spec import NodeSpec, ValueType
from deepfort.errors import PermissionDeniedError

MAX_BODY = 1 << 20


class HttpNode(MediaNode):
    """Params: `url` (http or https, host on the allow-list), `method` (GET | POST), `headers`, `json`
    (request body). Output: `status`, `text`, `json` (parsed body or null)."""

    type_name = "http"
    params_schema: ClassVar[Mapping[str, Param]] = {
        "url": Param("string", required=True),
        "method": Param("string", default="GET"),
        "headers": Param("object", default={}),
        "json": Param("any"),
    }
    outputs_schema: ClassVar[Mapping[str, ValueType] | None] = {
        "status": "integer",
        "text": "string",
        "json": "any",
    }

    @classmethod
    def check(cls, spec: NodeSpec) -> list[str]:
        method = spec.params.get("method", "GET")
        if isinstance(method, str) and method.upper() not in ("GET", "POST"):
            return ["param 'method' must be GET or POST"]
        return []

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and (parts.hostname or "") in self.svc.http_allowed_hosts

    async def run(self, params: Mapping[str, Any], ctx: NodeContext) -> NodeResult:
        url = str(params["url"])
        if not self.allowed(url):
            raise PermissionDeniedError(f"http node: host of {url!r} is not on the allow-list")
        async with httpx.AsyncClient(timeout=self.svc.http_timeout_s, follow_redirects=False) as client:
            response = await client.request(
                str(params["method"]).upper(),
                url,
                headers={str(k): str(v) for k, v in (params.get("headers") or {}).items()},
                json=params.get("json"),
            )
        text = response.text[:MAX_BODY]
        try:
            parsed: Any = response.json()
        except ValueError:
            parsed = None
        return NodeResult({"status": response.status_code, "text": text, "json": parsed})

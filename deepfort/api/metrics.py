"""GET /metrics (Prometheus text format), and the optional unauthenticated metrics port.

The route carries no auth of its own: ``build_app`` registers it behind the admin dependency, or open
when ``observability.metrics_public`` is set. ``observability.metrics_port`` serves the same registry on
a port of its own (:mod:`deepfort.observability.metrics_server`), for a Prometheus without an API key.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from deepfort.observability.metrics import Metrics

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    source: Metrics = request.app.state.node.metrics
    body, content_type = source.render()
    return Response(content=body, media_type=content_type)

"""GET /metrics, GET /admin/alerts and the separate metrics port, on a bare app holding a node stand-in."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from deepfort.api import alerts as alerts_api
from deepfort.api import metrics as metrics_api
from deepfort.observability.alerts import AlertEvaluator
from deepfort.observability.metrics import Metrics
from deepfort.observability.metrics_server import start_metrics_server


def app_with(metrics: Metrics, evaluator: AlertEvaluator | None) -> FastAPI:
    app = FastAPI()
    app.include_router(metrics_api.router)
    app.include_router(alerts_api.router)
    app.state.node = SimpleNamespace(metrics=metrics, alerts=evaluator)
    return app


def get(app: FastAPI, path: str) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)

    return asyncio.run(call())


def test_metrics_route_serves_the_node_registry() -> None:
    metrics = Metrics(gpu=False)
    metrics.request_failed(code="queue_full", status=503)
    response = get(app_with(metrics, None), "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    (sample,) = [s for s in families["deepfort:request_errors"].samples if s.name.endswith("_total")]
    assert (sample.labels, sample.value) == ({"code": "queue_full", "status": "503"}, 1.0)


def test_alerts_route() -> None:
    metrics = Metrics(gpu=False)
    metrics.center_state("grpc://a:9443", up=False)
    evaluator = AlertEvaluator(metrics)
    evaluator.sample(1_800_000_000.0)
    evaluator.evaluate_at(1_800_000_000.0)
    body = get(app_with(metrics, evaluator), "/admin/alerts").json()
    assert [(a["name"], a["state"], a["labels"]["target"]) for a in body["alerts"]] == [
        ("DeepfortCenterDown", "pending", "grpc://a:9443")
    ]
    assert get(app_with(metrics, None), "/admin/alerts").json() == {"alerts": []}


def test_metrics_port_serves_and_closes() -> None:
    metrics = Metrics(gpu=False)
    metrics.routed(tier="edge", reason="simple")
    server = start_metrics_server(metrics, 0, host="127.0.0.1")
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        assert 'deepfort:route_total{reason="simple",tier="edge"} 1.0' in response.text
    finally:
        server.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=10)

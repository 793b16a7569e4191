"""Eval runs from the API (admin keys only): ``POST /v1/evals`` starts ``deepfort eval run`` against this
server's own models in the background; ``GET /v1/evals`` and ``GET /v1/evals/{id}`` read progress and the
report back, ``GET /v1/evals/{id}/report.html`` the report's page. The latest score of each model and
suite is the gauge ``deepfort:eval_score{model,suite}`` on ``/metrics``."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from deepfort.api.deps import node
from deepfort.errors import ConfigError, InvalidRequestError
from deepfort.evals.client import EvalError
from deepfort.evals.html import report_html
from deepfort.evals.service import EvalService, EvalSpec

router = APIRouter(prefix="/v1/evals")


def _service(request: Request) -> EvalService:
    service: EvalService = node(request).evals
    return service


@router.post("", status_code=202)
async def start_eval(spec: EvalSpec, request: Request) -> JSONResponse:
    """Start an eval run; the body takes the options of `deepfort eval run` (`suites`, `data` as files on
    the server, `mode`, `limit`, `samples`, `temperature`, `top_p`, `max_tokens`, `seed`, `concurrency`,
    `judge_model`). Its requests go through this server's API with the caller's key."""
    services = node(request)
    model = spec.model or services.pool.default.id
    try:
        # Through the app itself, so the eval's requests take the same path as any client's.
        transport = httpx.ASGITransport(app=request.app)
        authorization = request.headers.get("authorization", "")
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        run = services.evals.submit(spec, model, transport, token)
    except (EvalError, ConfigError) as exc:  # an unknown suite, a missing file: the request's fault
        raise InvalidRequestError(exc.message, param="suites") from None
    return JSONResponse(run.record(), status_code=202)


@router.get("")
async def list_evals(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": await _service(request).list_runs()}


@router.get("/{run_id}")
async def get_eval(run_id: str, request: Request) -> dict[str, Any]:
    """The run's status, progress per suite and report so far."""
    return await _service(request).get(run_id)


@router.get("/{run_id}/report.html", response_class=HTMLResponse)
async def get_eval_page(run_id: str, request: Request) -> HTMLResponse:
    report = await _service(request).report(run_id)
    if report is None:
        raise InvalidRequestError(f"eval run {run_id!r} has no answers yet", code="not_ready")
    return HTMLResponse(report_html(report))


@router.post("/{run_id}/cancel")
async def cancel_eval(run_id: str, request: Request) -> dict[str, Any]:
    """Stop a queued or running eval; the answers so far stay in its run file."""
    return await _service(request).cancel(run_id)

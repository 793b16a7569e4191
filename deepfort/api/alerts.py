"""GET /admin/alerts: pending and firing alerts of the built-in evaluator (admin keys only)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from deepfort.observability.alerts import AlertEvaluator

router = APIRouter(prefix="/admin")


@router.get("/alerts")
async def alerts(request: Request) -> dict[str, list[dict[str, object]]]:
    """Each alert: name, state (pending or firing), labels, annotations, active_since, value."""
    evaluator: AlertEvaluator | None = request.app.state.node.alerts
    return {"alerts": evaluator.alerts() if evaluator is not None else []}

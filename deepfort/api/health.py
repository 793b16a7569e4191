"""GET /health (the process answers), GET /ready (every model is loaded), GET /stats (engine counters)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from deepfort.api.auth import admin
from deepfort.api.deps import model_pool, node

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    pool = model_pool(request)
    models = [m.id for m in pool]
    if pool.ready:
        return JSONResponse({"status": "ready", "models": models})
    return JSONResponse(
        {"status": "loading", "models": models}, status_code=503, headers={"Retry-After": "1"}
    )


@router.get("/stats", dependencies=[Depends(admin)])
async def stats(request: Request) -> dict[str, object]:
    models = {m.id: asdict(m.engine.stats()) for m in model_pool(request) if m.ready}
    centers = [center.status() for center in node(request).centers.centers]
    return {"models": models, "centers": centers} if centers else {"models": models}

"""``build_app(settings)``: the FastAPI application, with services created in the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from deepfort import __version__
from deepfort.api import adapters as adapter_routes
from deepfort.api import admin as admin_routes
from deepfort.api import alerts as alert_routes
from deepfort.api import conversations, feedback, generate, health, tokenize, web, workflows
from deepfort.api import evals as eval_routes
from deepfort.api import metrics as metric_routes
from deepfort.api.auth import admin, authenticated
from deepfort.api.errors import install_error_handlers
from deepfort.api.middleware import BodyGuardMiddleware, RequestIdMiddleware
from deepfort.api.openai import chat as chat_routes
from deepfort.api.openai import completions as completion_routes
from deepfort.api.openai import models as model_routes
from deepfort.app.node import Node, start_center
from deepfort.catalog import resolve_models
from deepfort.config import ModelSpec, Settings
from deepfort.observability.logs import add_access_log_file

log = logging.getLogger(__name__)


def build_app(settings: Settings, models: list[ModelSpec] | None = None) -> FastAPI:
    """Build the app for ``settings``; ``models`` defaults to what :func:`resolve_models` picks.

    Models load in the background after start-up: ``/health`` answers at once, ``/ready`` turns 200
    when every model is loaded, and model requests before that get 503 with ``Retry-After``.
    """
    served = models if models is not None else resolve_models(settings, [])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        access_file = settings.observability.access_log
        access_handler = add_access_log_file(access_file) if access_file is not None else None
        node = Node(settings, served)
        app.state.node = node
        app.state.pool = node.pool
        app.state.pipeline = node.pipeline
        app.state.tokenize = node.tokenize
        loading = asyncio.create_task(node.pool.start())
        loading.add_done_callback(_report_load)
        grpc_server = None
        try:
            if settings.role == "center":
                grpc_server = await start_center(node, settings)
            await node.start()
            log.info(node.auth.banner())
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=1.0)
            loading.cancel()
            await asyncio.gather(loading, return_exceptions=True)
            await node.close()
            if access_handler is not None:
                logging.getLogger("deepfort.access").removeHandler(access_handler)
                access_handler.close()

    app = FastAPI(
        title="deepfort",
        version=__version__,
        description="OpenAI-compatible API for privately deployed reasoning models.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    authenticated_ = [Depends(authenticated)]
    for module in (chat_routes, completion_routes, model_routes, generate, tokenize, conversations, feedback):
        app.include_router(module.router, dependencies=authenticated_)
    app.include_router(admin_routes.router, dependencies=[Depends(admin)])
    app.include_router(adapter_routes.router, dependencies=[Depends(admin)])
    app.include_router(alert_routes.router, dependencies=[Depends(admin)])
    metrics_auth = [] if settings.observability.metrics_public else [Depends(admin)]
    app.include_router(metric_routes.router, dependencies=metrics_auth)
    app.include_router(health.router)
    app.include_router(workflows.router, dependencies=authenticated_)
    app.include_router(eval_routes.router, dependencies=[Depends(admin)])
    app.include_router(web.router)  # last: the console's fallback never shadows an API path
    # Outermost first: the request id exists before the body guard can answer with an error.
    app.add_middleware(BodyGuardMiddleware, max_bytes=settings.server.max_body_bytes)
    if settings.security.cors_origins:  # off unless configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.security.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            expose_headers=["X-Request-Id", "X-Deepfort-Route", "X-Deepfort-Conversation-Id", "Retry-After"],
        )
    app.add_middleware(RequestIdMiddleware)
    return app


def _report_load(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("model loading failed: %s", exc)
    else:
        log.info("all models loaded")

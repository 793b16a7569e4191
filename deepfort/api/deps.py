"""Accessors for what the lifespan put on ``app.state``."""

from __future__ import annotations

from starlette.requests import Request

from deepfort.app.node import Node
from deepfort.serving.pipeline import ChatPipeline
from deepfort.serving.pool import ModelPool
from deepfort.serving.tokenize import TokenizeService


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def pipeline(request: Request) -> ChatPipeline:
    value: ChatPipeline = request.app.state.pipeline
    return value


def model_pool(request: Request) -> ModelPool:
    pool: ModelPool = request.app.state.pool
    return pool


def tokenize_service(request: Request) -> TokenizeService:
    service: TokenizeService = request.app.state.tokenize
    return service


def node(request: Request) -> Node:
    value: Node = request.app.state.node
    return value

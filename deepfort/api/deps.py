"""Accessors for what the lifespan put on ``app.state``."""

from __future__ import annotations

from starlette.requests import Request

from deepfort.app.node import Node
from deepfort.serving.chat import ChatService
from deepfort.serving.completions import CompletionService
from deepfort.serving.pool import ModelPool
from deepfort.serving.tokenize import TokenizeService


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def chat_service(request: Request) -> ChatService:
    service: ChatService = request.app.state.chat
    return service


def completion_service(request: Request) -> CompletionService:
    service: CompletionService = request.app.state.completions
    return service


def model_pool(request: Request) -> ModelPool:
    pool: ModelPool = request.app.state.pool
    return pool


def tokenize_service(request: Request) -> TokenizeService:
    service: TokenizeService = request.app.state.tokenize
    return service


def node(request: Request) -> Node:
    value: Node = request.app.state.node
    return value

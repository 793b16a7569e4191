"""Dependencies that authenticate a request and check the caller's role (model and quota checks are the
pipeline's quota layer)."""

from __future__ import annotations

from fastapi import Request

from deepfort.access.keys import LOCAL, ApiKey
from deepfort.api.deps import node


async def authenticated(request: Request) -> ApiKey:
    """The caller's key (or the local principal when auth is off); 401 otherwise."""
    client = request.client.host if request.client else None
    key = await node(request).auth.authenticate(request.headers.get("authorization"), client)
    request.state.principal = key
    return key


async def admin(request: Request) -> ApiKey:
    key = await authenticated(request)
    return node(request).auth.require_admin(key)


def principal(request: Request) -> ApiKey:
    key: ApiKey = getattr(request.state, "principal", LOCAL)
    return key

"""Dependencies that authenticate a request and check the caller's role, model and quotas."""

from __future__ import annotations

from fastapi import Request

from deepfort.access.keys import LOCAL, ApiKey
from deepfort.api.deps import node
from deepfort.api.streaming import Finished
from deepfort.protocol import Usage


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


async def admit(request: Request, model: str | None) -> Finished:
    """Check the model allow-list and quotas before a generation; returns what charges its tokens."""
    key = principal(request)
    auth = node(request).auth
    await auth.admit(key, model)

    async def charge(usage: Usage) -> None:
        await auth.charge(key, usage.total_tokens)

    return charge

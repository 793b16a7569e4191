"""Quota: the key's model allow-list, request rate and token quota before; its tokens charged after."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from deepfort.access.auth import AuthService
from deepfort.serving.call import Call
from deepfort.serving.layers.base import Layer

if TYPE_CHECKING:
    from deepfort.serving.run import Run


class QuotaLayer(Layer):
    name: ClassVar[str] = "quota"

    def __init__(self, auth: AuthService) -> None:
        self.auth = auth

    async def before(self, call: Call) -> None:
        await self.auth.admit(call.caller.key, call.request.model)

    async def after(self, call: Call, run: Run) -> None:
        await self.auth.charge(call.caller.key, run.usage().total_tokens)

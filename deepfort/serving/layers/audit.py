"""Audit: personal data found (kinds and counts, never values) or refused, and moderation hits, appended
to the hash-chained audit log under the caller's key."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar

from deepfort.access.audit import AuditLog
from deepfort.errors import DeepfortError, SensitiveInputError
from deepfort.serving.call import Call
from deepfort.serving.layers.base import Layer

if TYPE_CHECKING:
    from deepfort.serving.run import Run


class AuditLayer(Layer):
    name: ClassVar[str] = "audit"

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    async def _append(self, call: Call, action: str, detail: dict[str, object]) -> None:
        entry = {**detail, "request_id": call.caller.request_id}
        await asyncio.to_thread(self.audit.append, call.caller.key.key_id, action, entry)

    async def refused(self, call: Call, exc: DeepfortError) -> None:
        if isinstance(exc, SensitiveInputError):
            await self._append(call, "guard.pii", {"policy": "block", "refused": exc.message})

    async def after(self, call: Call, run: Run) -> None:
        screened = call.screened
        if screened is not None and screened.pii.found:
            await self._append(
                call, "guard.pii", {"policy": screened.policy, "kinds": dict(screened.pii.found)}
            )
        hits = run.moderation_hits()
        if hits:
            await self._append(call, "guard.moderation", {"categories": hits})

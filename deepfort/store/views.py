"""What the store hands out: frozen dataclasses of plain values, never ORM objects, so that nothing
outside the store can lazy-load, mutate or hold a session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypedDict

Role = Literal["user", "admin"]
ROLES: tuple[Role, ...] = ("user", "admin")


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    """An API key as stored: the secret only as ``salt`` and ``secret_hash`` (security.keys owns both)."""

    key_id: str
    name: str
    role: Role
    salt: bytes
    secret_hash: bytes
    rate: str | None
    """Request rate limit, e.g. ``60/min``; None: no limit."""
    tokens: str | None
    """Token quota, e.g. ``200000/day``; None: no quota."""
    models: tuple[str, ...] | None
    """Models the key may use; None: all."""
    pii_policy: str | None
    """Overrides the server's PII policy for this key; None: the server's."""
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def is_active(self, at: datetime) -> bool:
        """Not revoked, and not expired at ``at``."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > at)


class ApiKeyChanges(TypedDict, total=False):
    """Fields :meth:`Store.update_api_key` may change; a field given as None is set to NULL."""

    name: str
    role: Role
    salt: bytes
    secret_hash: bytes
    rate: str | None
    tokens: str | None
    models: list[str] | tuple[str, ...] | None
    pii_policy: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to append to a conversation."""

    role: str
    content: str
    reasoning: str | None = None
    request_id: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class MessageView:
    id: str
    conversation_id: str
    seq: int
    """1, 2, 3, ... in the order the messages were added to their conversation."""
    role: str
    content: str
    reasoning: str | None
    request_id: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    id: str
    owner: str
    title: str
    model: str | None
    created_at: datetime
    updated_at: datetime
    """When the conversation was created or last got a message."""
    message_count: int


@dataclass(frozen=True, slots=True)
class ConversationView:
    id: str
    owner: str
    title: str
    model: str | None
    created_at: datetime
    updated_at: datetime
    messages: tuple[MessageView, ...]


@dataclass(frozen=True, slots=True)
class RequestRecordRow:
    id: str
    key_id: str | None
    model: str
    tier: str | None
    route_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    status: int
    """The HTTP status of the response."""
    finish_reason: str | None
    latency_ms: float
    ttft_ms: float | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditRow:
    seq: int
    ts: datetime
    actor: str
    action: str
    detail: str
    """JSON text, exactly as appended (the hash covers it)."""
    prev_hash: str
    hash: str

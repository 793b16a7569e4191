"""Persistent state: API keys, encrypted conversations, request records and the audit log, on SQLite by
default or PostgreSQL by URL, with Alembic migrations applied at open. See :class:`Store`."""

from deepfort.store.db import default_url, make_engine
from deepfort.store.errors import RowExistsError
from deepfort.store.store import Store
from deepfort.store.views import (
    ApiKeyChanges,
    ApiKeyRow,
    AuditRow,
    ConversationSummary,
    ConversationView,
    MessageView,
    NewMessage,
    RequestRecordRow,
    Role,
)

__all__ = [
    "ApiKeyChanges",
    "ApiKeyRow",
    "AuditRow",
    "ConversationSummary",
    "ConversationView",
    "MessageView",
    "NewMessage",
    "RequestRecordRow",
    "Role",
    "RowExistsError",
    "Store",
    "default_url",
    "make_engine",
]

"""The store's one error of its own, for callers that retry on a taken key."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError


class RowExistsError(IntegrityError):
    """A row with this key exists already: an audit ``seq`` another appender took first, an API key id or
    request id used twice. An :class:`IntegrityError`, so code that catches the driver-neutral SQLAlchemy
    error catches it too; its message names the table and key and never the values written."""

    def __init__(self, message: str, cause: IntegrityError) -> None:
        orig = cause.orig if cause.orig is not None else cause
        super().__init__(cause.statement, None, orig, hide_parameters=True)
        self.message = message

    def __str__(self) -> str:
        return self.message

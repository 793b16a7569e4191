"""The store: API keys, sealed conversations, request records, audit entries and key rotation, on SQLite
or PostgreSQL. Methods are synchronous and thread-safe; async callers run them in a thread
(``await asyncio.to_thread(store.add_message, ...)``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from deepfort.crypto.sm import Keyring
from deepfort.store.api_keys import ApiKeyMethods
from deepfort.store.base import utc_now
from deepfort.store.conversations import ConversationMethods
from deepfort.store.datakeys import FIELDS_PER_KEY
from deepfort.store.db import Synchronous, make_engine
from deepfort.store.feedback import FeedbackMethods
from deepfort.store.migrate import upgrade
from deepfort.store.records import RecordMethods
from deepfort.store.rotation import RotationMethods
from deepfort.store.workflows import WorkflowMethods


class Store(
    ApiKeyMethods, ConversationMethods, FeedbackMethods, RecordMethods, RotationMethods, WorkflowMethods
):
    """One database, its schema brought up to date on :meth:`open`, and the master keyring that wraps
    its data keys."""

    @classmethod
    def open(
        cls,
        url: str,
        master: Keyring,
        *,
        synchronous: Synchronous = "NORMAL",
        fields_per_data_key: int = FIELDS_PER_KEY,
        clock: Callable[[], datetime] = utc_now,
    ) -> Store:
        """Connect to ``url`` (see :func:`deepfort.store.db.make_engine`; ``synchronous`` is SQLite's),
        apply pending migrations, and return the store. ``clock`` gives the timestamps written."""
        engine = make_engine(url, synchronous=synchronous)
        try:
            upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, master, clock, fields_per_data_key)

    def close(self) -> None:
        """Close every pooled connection; the store is not to be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

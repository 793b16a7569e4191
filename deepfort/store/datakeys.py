"""Data keys: random SM4 keys that seal fields, kept in ``data_keys`` wrapped by a master keyring.

Each :class:`DataKeys` (one per open store) seals new fields under a data key of its own, created on first
use and replaced after ``fields_per_key`` fields or on demand (:meth:`DataKeys.replace`): a key's nonce
budget is then counted exactly, whatever other processes do. A replaced key is marked ``retired``; it
seals nothing new but opens what it sealed. Unwrapped keys are cached in memory for the life of the store.

A data key is wrapped with the master keyring's active key and AAD ``deepfort/datakey/{id}``, and the row
records that master key's id, so a reader unwraps with whichever master key wrapped that row: rotation
(:meth:`DataKeys.rewrap`) can run while other processes serve, as long as their keyrings hold both keys.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from deepfort.crypto.sm import KEY_BYTES, NONCE_BYTES, TAG_BYTES, Keyring, SealedMessage
from deepfort.errors import EnvelopeError, RecordIntegrityError
from deepfort.store.models import DataKey

FIELDS_PER_KEY = 1 << 24
"""Fields sealed under one data key before it is replaced: far inside GCM's 2**32 random-nonce budget."""


def datakey_aad(data_key_id: str) -> bytes:
    return f"deepfort/datakey/{data_key_id}".encode()


def wrap(master: Keyring, data_key_id: str, key: bytes) -> tuple[str, bytes]:
    """``(master key id, nonce + ciphertext + tag)`` of ``key`` under the master's active key."""
    sealed = master.seal(key, datakey_aad(data_key_id))
    return sealed.key_id, sealed.nonce + sealed.ciphertext + sealed.tag


def unwrap(master: Keyring, data_key_id: str, master_key_id: str, wrapped: bytes) -> bytes:
    """The data key in ``wrapped``; :class:`RecordIntegrityError` if the master key is gone or the wrapped
    key was altered or belongs to another row."""
    sealed = SealedMessage(
        master_key_id, wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:-TAG_BYTES], wrapped[-TAG_BYTES:]
    )
    try:
        key = master.open(sealed, datakey_aad(data_key_id))
    except EnvelopeError as exc:
        raise RecordIntegrityError(f"data_keys record {data_key_id} did not unwrap: {exc.message}") from None
    if len(key) != KEY_BYTES:
        raise RecordIntegrityError(f"data_keys record {data_key_id} holds a key of {len(key)} bytes")
    return key


class DataKeys:
    """The data keys of one open store (see the module docstring). Thread-safe."""

    def __init__(
        self,
        write_sessions: sessionmaker[Session],
        master: Keyring,
        clock: Callable[[], datetime],
        fields_per_key: int = FIELDS_PER_KEY,
    ) -> None:
        if fields_per_key < 2:
            raise ValueError("fields_per_key must be at least 2 (a message seals up to two fields)")
        self._write_sessions = write_sessions
        self._master = master
        self._clock = clock
        self._fields_per_key = fields_per_key
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._active: str | None = None
        self._used = 0

    @property
    def master(self) -> Keyring:
        return self._master

    @master.setter
    def master(self, keyring: Keyring) -> None:
        self._master = keyring

    def for_sealing(self, fields: int) -> tuple[str, bytes]:
        """``(id, key)`` of the data key to seal ``fields`` new fields with, reserved for them. Call it
        before opening the transaction that writes them: a new key is committed in its own transaction
        (so a record never refers to a key that a rollback took away)."""
        if not 0 < fields <= self._fields_per_key:
            raise ValueError(f"cannot reserve {fields} fields; at most {self._fields_per_key} per key")
        with self._lock:
            if self._active is None or self._used + fields > self._fields_per_key:
                self._create_locked()
            assert self._active is not None
            self._used += fields
            return self._active, self._cache[self._active]

    def replace(self) -> str:
        """Retire the key this store seals with and start a new one; its id."""
        with self._lock:
            return self._create_locked()

    def key(self, session: Session, data_key_id: str) -> bytes:
        """The unwrapped data key ``data_key_id``, from the cache or read with ``session``."""
        cached = self._cache.get(data_key_id)
        if cached is not None:
            return cached
        row = session.execute(
            select(DataKey.master_key_id, DataKey.wrapped).where(DataKey.id == data_key_id)
        ).one_or_none()
        if row is None:
            raise RecordIntegrityError(f"data key {data_key_id} does not exist")
        key = unwrap(self._master, data_key_id, row.master_key_id, row.wrapped)
        self._cache[data_key_id] = key
        return key

    def _create_locked(self) -> str:
        data_key_id = str(uuid.uuid4())
        key = secrets.token_bytes(KEY_BYTES)
        master_key_id, wrapped = wrap(self._master, data_key_id, key)
        with self._write_sessions.begin() as session:
            if self._active is not None:
                session.execute(update(DataKey).where(DataKey.id == self._active).values(retired=True))
            session.add(
                DataKey(
                    id=data_key_id,
                    master_key_id=master_key_id,
                    wrapped=wrapped,
                    created_at=self._clock(),
                    retired=False,
                )
            )
        self._cache[data_key_id] = key
        self._active = data_key_id
        self._used = 0
        return data_key_id

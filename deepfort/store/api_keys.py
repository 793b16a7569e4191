"""API keys as rows; hashing secrets, parsing quotas and checking roles belong to security.keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Unpack, cast

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from deepfort.errors import NotFoundError
from deepfort.store.base import StoreCore, rowcount
from deepfort.store.errors import RowExistsError
from deepfort.store.models import ApiKey
from deepfort.store.views import ROLES, ApiKeyChanges, ApiKeyRow, Role


class ApiKeyMethods(StoreCore):
    def add_api_key(
        self,
        key_id: str,
        *,
        name: str,
        role: Role,
        salt: bytes,
        secret_hash: bytes,
        rate: str | None = None,
        tokens: str | None = None,
        models: Sequence[str] | None = None,
        pii_policy: str | None = None,
        expires_at: datetime | None = None,
        created_at: datetime | None = None,
    ) -> ApiKeyRow:
        """Store a new key; :class:`RowExistsError` if ``key_id`` is taken."""
        _check_role(role)
        row = ApiKey(
            key_id=key_id,
            name=name,
            role=role,
            salt=salt,
            secret_hash=secret_hash,
            rate=rate,
            tokens=tokens,
            models=None if models is None else list(models),
            pii_policy=pii_policy,
            created_at=created_at or self._clock(),
            expires_at=expires_at,
            revoked_at=None,
            last_used_at=None,
        )
        try:
            with self._writing() as session:
                session.add(row)
                session.flush()
        except IntegrityError as exc:
            raise RowExistsError(f"api_keys: key id {key_id!r} exists already", exc) from exc
        return _view(row)

    def get_api_key(self, key_id: str) -> ApiKeyRow | None:
        with self._reading() as session:
            row = session.get(ApiKey, key_id)
            return None if row is None else _view(row)

    def list_api_keys(self) -> list[ApiKeyRow]:
        """Every key, revoked and expired ones too, oldest first."""
        with self._reading() as session:
            rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.key_id))
            return [_view(row) for row in rows]

    def update_api_key(self, key_id: str, **changes: Unpack[ApiKeyChanges]) -> ApiKeyRow:
        """Change the given fields (None sets a field to NULL) and return the key as it is now;
        :class:`NotFoundError` if there is no such key."""
        if "role" in changes:
            _check_role(changes["role"])
        values: dict[str, object] = dict(changes)
        if values.get("models") is not None:
            values["models"] = list(cast(Sequence[str], values["models"]))
        with self._writing() as session:
            if values and not rowcount(session, update(ApiKey).where(ApiKey.key_id == key_id).values(values)):
                raise NotFoundError(f"no API key {key_id!r}")
            row = session.get(ApiKey, key_id, populate_existing=True)
            if row is None:
                raise NotFoundError(f"no API key {key_id!r}")
            return _view(row)

    def count_api_keys(self, active_only: bool = True) -> int:
        """Keys stored; with ``active_only``, those neither revoked nor expired."""
        query = select(func.count()).select_from(ApiKey)
        if active_only:
            query = query.where(
                ApiKey.revoked_at.is_(None),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > self._clock()),
            )
        with self._reading() as session:
            return int(session.scalar(query) or 0)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {list(ROLES)}, not {role!r}")


def _view(row: ApiKey) -> ApiKeyRow:
    return ApiKeyRow(
        key_id=row.key_id,
        name=row.name,
        role=cast(Role, row.role),
        salt=row.salt,
        secret_hash=row.secret_hash,
        rate=row.rate,
        tokens=row.tokens,
        models=None if row.models is None else tuple(row.models),
        pii_policy=row.pii_policy,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )

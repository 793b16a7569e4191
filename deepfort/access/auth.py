"""Who is asking, and may they: bearer keys, the auth-off rule, per-key rate and token quotas.

Auth is on whenever any API key exists or the server listens beyond loopback (then the server refuses to
start without keys unless ``--insecure-no-auth``). On loopback with no keys every request runs as
:data:`LOCAL`, an admin, and the start-up banner says so.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from deepfort.access.audit import AuditLog
from deepfort.access.keys import (
    LOCAL,
    ApiKey,
    KeyCache,
    Limit,
    Role,
    bearer,
    hash_secret,
    new_secret,
    parse_token,
    require_active,
    secret_matches,
)
from deepfort.access.limits import Counters, Window
from deepfort.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from deepfort.store import Store

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def to_key(row: Any) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        name=row.name,
        role=row.role,
        rate=None if row.rate is None else Limit.parse(row.rate),
        tokens=None if row.tokens is None else Limit.parse(row.tokens),
        models=None if row.models is None else tuple(row.models),
        pii_policy=row.pii_policy,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


@dataclass(frozen=True)
class Created:
    token: str
    key: ApiKey


class KeyManager:
    """Create, list and revoke keys (sync: used by the CLI and, in a thread, by the admin API)."""

    def __init__(self, store: Store, audit: AuditLog) -> None:
        self.store = store
        self.audit = audit

    def create(
        self,
        name: str,
        role: Role = "user",
        *,
        rate: str | None = None,
        tokens: str | None = None,
        models: Sequence[str] | None = None,
        expires_at: datetime | None = None,
        pii_policy: str | None = None,
        actor: str = "cli",
    ) -> Created:
        if role not in ("user", "admin"):
            raise InvalidRequestError(f"role must be user or admin, not {role!r}", param="role")
        if pii_policy not in (None, "mask", "block", "allow"):
            raise InvalidRequestError("pii_policy must be mask, block or allow", param="pii_policy")
        if not name.strip():
            raise InvalidRequestError("a key needs a name", param="name")
        if expires_at is not None:
            try:
                expires_at = expires_at.astimezone(UTC)
            except (OverflowError, ValueError):
                raise InvalidRequestError("expires_at is out of range", param="expires_at") from None
            if expires_at.year < 2000 or expires_at.year > 9000:
                raise InvalidRequestError(
                    "expires_at must be between the years 2000 and 9000", param="expires_at"
                )
        rate_limit = None if rate is None else Limit.parse(rate, "rate")
        token_limit = None if tokens is None else Limit.parse(tokens, "tokens")
        secret = new_secret()
        self.store.add_api_key(
            key_id=secret.key_id,
            name=name.strip(),
            role=role,
            salt=secret.salt,
            secret_hash=secret.secret_hash,
            rate=None if rate_limit is None else str(rate_limit),
            tokens=None if token_limit is None else str(token_limit),
            models=None if models is None else list(models),
            pii_policy=pii_policy,
            expires_at=expires_at,
        )
        key = to_key(self.store.get_api_key(secret.key_id))
        self.audit.append(actor, "key.create", {"key_id": key.key_id, "name": key.name, "role": role})
        return Created(secret.token, key)

    def import_token(
        self, token: str, name: str, role: Role = "admin", *, actor: str = "cli", **limits: Any
    ) -> ApiKey:
        """Register a key made elsewhere (e.g. kept in a Kubernetes Secret): only its salted hash is stored.
        Importing the same key again changes nothing."""
        parsed = parse_token(token.strip())
        if parsed is None:
            raise InvalidRequestError(
                "not a deepfort API key (expected df-<8 chars>-<43 chars>)", param="key"
            )
        key_id, secret = parsed
        existing = self.store.get_api_key(key_id)
        if existing is not None:
            if not secret_matches(secret, existing.salt, existing.secret_hash):
                raise InvalidRequestError(f"another key with id {key_id} exists", param="key")
            return to_key(existing)
        salt, secret_hash = hash_secret(secret)
        self.store.add_api_key(
            key_id=key_id,
            name=name.strip() or "imported",
            role=role,
            salt=salt,
            secret_hash=secret_hash,
            rate=limits.get("rate"),
            tokens=limits.get("tokens"),
            models=limits.get("models"),
            pii_policy=limits.get("pii_policy"),
        )
        self.audit.append(actor, "key.import", {"key_id": key_id, "name": name, "role": role})
        return to_key(self.store.get_api_key(key_id))

    def list(self) -> list[ApiKey]:
        return [to_key(row) for row in self.store.list_api_keys()]

    def revoke(self, key_id: str, actor: str = "cli") -> ApiKey:
        row = self.store.get_api_key(key_id)
        if row is None:
            raise NotFoundError(f"no API key {key_id!r}")
        if row.revoked_at is None:
            self.store.update_api_key(key_id, revoked_at=datetime.now(UTC))
            self.audit.append(actor, "key.revoke", {"key_id": key_id})
        return to_key(self.store.get_api_key(key_id))


class AuthService:
    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        counters: Counters,
        *,
        listen_host: str,
        insecure_no_auth: bool = False,
    ) -> None:
        self.store = store
        self.audit = audit
        self.counters = counters
        self.keys = KeyManager(store, audit)
        self.loopback = is_loopback(listen_host)
        self.insecure_no_auth = insecure_no_auth
        self.cache = KeyCache()
        self._any_keys = False

    async def refresh(self) -> None:
        self._any_keys = await asyncio.to_thread(self.store.count_api_keys, False) > 0

    @property
    def enabled(self) -> bool:
        return self._any_keys or not (self.loopback or self.insecure_no_auth)

    def banner(self) -> str:
        if self._any_keys:
            return "auth: on (API keys required)"
        if self.loopback:
            return "auth: OFF (loopback only and no API keys; create one with `deepfort keys create`)"
        if self.insecure_no_auth:
            return (
                "auth: OFF on a non-loopback address (--insecure-no-auth): anyone who can reach it can use it"
            )
        return "auth: on (no keys yet: every request is refused until one is created)"

    def _audit_failure(self, reason: str, key_id: str | None, client: str | None) -> None:
        self.audit.append(key_id or "anonymous", "auth.failure", {"reason": reason, "client": client})

    async def authenticate(self, authorization: str | None, client: str | None = None) -> ApiKey:
        if not self.enabled:
            return LOCAL
        token = bearer(authorization)
        if token is None:
            await asyncio.to_thread(self._audit_failure, "missing bearer token", None, client)
            raise AuthenticationError("this server requires an API key: send `Authorization: Bearer df-...`")
        parsed = parse_token(token)
        if parsed is None:
            await asyncio.to_thread(self._audit_failure, "malformed key", None, client)
            raise AuthenticationError("invalid API key")
        key_id, secret = parsed
        cached = self.cache.get(key_id)
        if cached is None:
            row = await asyncio.to_thread(self.store.get_api_key, key_id)
            if row is None:
                await asyncio.to_thread(self._audit_failure, "unknown key id", key_id, client)
                raise AuthenticationError("invalid API key")
            self.cache.put(to_key(row), row.salt, row.secret_hash)
            cached = self.cache.get(key_id)
            assert cached is not None
        if not secret_matches(secret, cached.salt, cached.secret_hash):
            await asyncio.to_thread(self._audit_failure, "wrong secret", key_id, client)
            raise AuthenticationError("invalid API key")
        try:
            return require_active(cached.key)
        except AuthenticationError:
            await asyncio.to_thread(self._audit_failure, cached.key.state(), key_id, client)
            raise

    @staticmethod
    def require_admin(key: ApiKey) -> ApiKey:
        if not key.is_admin:
            raise PermissionDeniedError("this needs an admin API key")
        return key

    async def admit(self, key: ApiKey, model: str | None) -> None:
        """Model allow-list, then one request against the rate, then the token quota (not yet used up)."""
        key.check_model(model)
        if key.rate is not None:
            window = Window(f"rate:{key.key_id}", key.rate.window_s)
            total, left = await self.counters.add(window, 1)
            if total > key.rate.count:
                raise RateLimitError(
                    f"API key {key.key_id} is limited to {key.rate} requests",
                    retry_after=max(1, round(left + 0.5)),
                    code="rate_limit_exceeded",
                )
        if key.tokens is not None:
            used, left = await self.counters.get(Window(f"tokens:{key.key_id}", key.tokens.window_s))
            if used >= key.tokens.count:
                raise RateLimitError(
                    f"API key {key.key_id} has used its {key.tokens} tokens",
                    retry_after=max(1, round(left + 0.5)),
                    code="token_quota_exceeded",
                )

    async def charge(self, key: ApiKey, tokens: int) -> None:
        if key.tokens is not None and tokens > 0:
            await self.counters.add(Window(f"tokens:{key.key_id}", key.tokens.window_s), tokens)

"""API keys: creation (shown once), salted hashes at rest, roles, quotas, model allow-lists, expiry.

A key reads ``df-<key id>-<secret>``. The key id is public (it names the key in lists, logs and the audit
trail); the secret is 43 URL-safe characters (256 bits) of which only ``HMAC-SM3(salt, secret)`` is stored.
Lookups go by key id, the comparison is constant-time. Verified keys are cached for a few seconds, so a
revocation made by another process (``deepfort keys revoke``) takes effect within that time.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from deepfort.crypto.sm import hmac_sm3, verify_hmac_sm3
from deepfort.errors import AuthenticationError, InvalidRequestError, PermissionDeniedError

Role = Literal["user", "admin"]
_TOKEN = re.compile(r"^df-([a-z0-9]{8})-([A-Za-z0-9_-]{43})$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour|d|day)s?\s*$")
_UNIT_S = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_UNIT_S |= {"d": 86400, "day": 86400}
CACHE_S = 5.0


@dataclass(frozen=True)
class Limit:
    """``count`` per ``window_s`` seconds, written like ``60/min``, ``200000/day`` or ``10/30s``."""

    count: int
    window_s: int

    @classmethod
    def parse(cls, text: str, what: str = "limit") -> Limit:
        match = _RATE.match(text)
        if match is None or int(match.group(1)) < 1:
            raise InvalidRequestError(f"{what} {text!r}: expected COUNT/UNIT such as 60/min or 200000/day")
        multiple = int(match.group(2) or 1)
        return cls(count=int(match.group(1)), window_s=multiple * _UNIT_S[match.group(3)])

    def __str__(self) -> str:
        for unit, seconds in (("day", 86400), ("hour", 3600), ("min", 60)):
            if self.window_s == seconds:
                return f"{self.count}/{unit}"
        return f"{self.count}/{self.window_s}s"


@dataclass(frozen=True)
class ApiKey:
    """A key as the server sees it (never the secret)."""

    key_id: str
    name: str
    role: Role
    rate: Limit | None = None
    tokens: Limit | None = None
    models: tuple[str, ...] | None = None
    pii_policy: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def state(self, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and _aware(self.expires_at) <= now:
            return "expired"
        return "active"

    def check_model(self, model: str | None) -> None:
        if self.models is not None and (model or "") not in self.models:
            raise PermissionDeniedError(
                f"this API key may not use model `{model}`; allowed: {', '.join(self.models)}",
                param="model",
                code="model_not_allowed",
            )

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.key_id,
            "name": self.name,
            "role": self.role,
            "rate": None if self.rate is None else str(self.rate),
            "tokens": None if self.tokens is None else str(self.tokens),
            "models": None if self.models is None else list(self.models),
            "pii_policy": self.pii_policy,
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
            "state": self.state(),
        }


LOCAL = ApiKey(key_id="local", name="local (auth off)", role="admin")
"""The principal of every request when auth is off (loopback, no keys)."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _aware(value).isoformat()


@dataclass(frozen=True)
class NewSecret:
    token: str
    key_id: str
    salt: bytes
    secret_hash: bytes


def hash_secret(secret: str) -> tuple[bytes, bytes]:
    """A fresh salt and ``HMAC-SM3(salt, secret)``: all that is stored of a key."""
    salt = secrets.token_bytes(16)
    return salt, hmac_sm3(salt, secret.encode())


def new_secret() -> NewSecret:
    key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    secret = secrets.token_urlsafe(32)
    salt, secret_hash = hash_secret(secret)
    return NewSecret(f"df-{key_id}-{secret}", key_id, salt, secret_hash)


def parse_token(token: str) -> tuple[str, str] | None:
    match = _TOKEN.match(token)
    return None if match is None else (match.group(1), match.group(2))


def secret_matches(secret: str, salt: bytes, secret_hash: bytes) -> bool:
    return verify_hmac_sm3(salt, secret.encode(), secret_hash)


@dataclass
class _Cached:
    key: ApiKey
    salt: bytes
    secret_hash: bytes
    until: float


@dataclass
class KeyCache:
    """Verified keys for a few seconds, so each request does not hit the database."""

    ttl_s: float = CACHE_S
    clock: Callable[[], float] = time.monotonic
    entries: dict[str, _Cached] = field(default_factory=dict)

    def get(self, key_id: str) -> _Cached | None:
        entry = self.entries.get(key_id)
        if entry is None or entry.until < self.clock():
            self.entries.pop(key_id, None)
            return None
        return entry

    def put(self, key: ApiKey, salt: bytes, secret_hash: bytes) -> None:
        self.entries[key.key_id] = _Cached(key, salt, secret_hash, self.clock() + self.ttl_s)

    def drop(self, key_id: str) -> None:
        self.entries.pop(key_id, None)


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def require_active(key: ApiKey) -> ApiKey:
    state = key.state()
    if state != "active":
        raise AuthenticationError(f"API key {key.key_id} is {state}")
    return key

"""The audit log: auth failures, key changes, policy hits, admin actions and rotations, as a hash chain.

Entry ``n`` stores ``hash_n = SM3(hash_{n-1} || canonical JSON of (seq, ts, actor, action, detail))``;
the first entry chains to 64 zeros. Editing an entry breaks its own hash, deleting one breaks the link
of the next (and leaves a gap in ``seq``), so ``deepfort audit verify`` names the first entry that does not
hold. Truncating the newest entries is only visible against an earlier recorded head (``verify`` prints
the head to keep elsewhere). Details never carry secrets or personal data: kinds and counts, not values.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from deepfort.crypto.sm import sm3
from deepfort.store import RowExistsError

log = logging.getLogger(__name__)
GENESIS = "0" * 64


class AuditRowLike(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


class AuditStore(Protocol):
    def append_audit(
        self, seq: int, ts: datetime, actor: str, action: str, detail: str, prev_hash: str, hash: str
    ) -> None: ...

    def last_audit(self) -> Any: ...

    def iter_audit(self) -> Iterable[Any]: ...


def _ts(value: datetime) -> str:
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, seq: int, ts: datetime, actor: str, action: str, detail: str) -> str:
    body = json.dumps(
        {"seq": seq, "ts": _ts(ts), "actor": actor, "action": action, "detail": detail},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return sm3(bytes.fromhex(prev_hash) + body.encode()).hex()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    head: str
    bad_seq: int | None = None
    reason: str | None = None


class AuditLog:
    """Appends chained entries; safe across threads here and, by retrying on a taken ``seq``, across
    processes sharing the database."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store
        self._lock = threading.Lock()

    def append(self, actor: str, action: str, detail: Mapping[str, object] | None = None) -> None:
        text = json.dumps(dict(detail or {}), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            for _ in range(20):
                last = self.store.last_audit()
                seq = 1 if last is None else int(last.seq) + 1
                prev = GENESIS if last is None else str(last.hash)
                # Microseconds, UTC: what the database keeps must hash the same when read back.
                ts = datetime.now(UTC)
                digest = entry_hash(prev, seq, ts, actor, action, text)
                try:
                    self.store.append_audit(seq, ts, actor, action, text, prev, digest)
                    return
                except RowExistsError:  # another process took this seq: re-read the head and retry
                    continue
            log.error("audit entry lost after retries", extra={"action": action})


def verify(rows: Iterable[AuditRowLike]) -> Verdict:
    prev, expected_seq, count = GENESIS, 1, 0
    for row in rows:
        count += 1
        if row.seq != expected_seq:
            return Verdict(
                False, count, prev, expected_seq, f"entry {expected_seq} is missing (next is {row.seq})"
            )
        if row.prev_hash != prev:
            return Verdict(
                False, count, prev, row.seq, f"entry {row.seq} does not link to entry {row.seq - 1}"
            )
        digest = entry_hash(prev, row.seq, row.ts, row.actor, row.action, row.detail)
        if digest != row.hash:
            return Verdict(False, count, prev, row.seq, f"entry {row.seq} was altered (hash mismatch)")
        prev, expected_seq = row.hash, row.seq + 1
    return Verdict(True, count, prev)

"""Key rotation: new data keys on demand, and re-wrapping every data key under a new master key.

To retire a master key while serving: add the new key to every node's keyring file and activate it there
(``generate_key``, then ``activate_key``; nodes still hold the old key, so they read everything), run
:meth:`RotationMethods.rotate_master` once with that keyring, check that :meth:`master_key_usage` shows no
data key under the old id (a node that still sealed under the old key meanwhile shows up there: run the
rotation again), then ``retire_key`` the old key on every node. Records themselves are never re-encrypted:
only the data keys that seal them are re-wrapped, a few dozen bytes each.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, func, select, update

from deepfort.crypto.sm import Keyring
from deepfort.errors import CryptoError
from deepfort.store.base import StoreCore
from deepfort.store.datakeys import unwrap, wrap
from deepfort.store.models import DataKey

_TABLE = cast(Table, DataKey.__table__)
# Only if still under the master key it was read with: a concurrent rotation's work is not redone.
_REWRAP = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.master_key_id == bindparam("b_old"))
    .values(master_key_id=bindparam("b_new"), wrapped=bindparam("b_wrapped"))
)


class RotationMethods(StoreCore):
    def rotate_data_key(self) -> str:
        """Stop sealing under this store's current data key and start a new one; the new key's id. Old
        records stay under their keys (they open as before)."""
        return self._data_keys.replace()

    def master_key_usage(self) -> dict[str, int]:
        """How many data keys each master key wraps; an id absent here (or at zero) may be retired."""
        with self._reading() as session:
            rows = session.execute(
                select(DataKey.master_key_id, func.count()).group_by(DataKey.master_key_id)
            )
            return {master_key_id: count for master_key_id, count in rows}

    def rotate_master(self, keyring: Keyring, batch: int = 500) -> int:
        """Re-wrap every data key not under ``keyring.active`` with it, ``batch`` keys per transaction, and
        seal new data keys with ``keyring`` from now on; the number re-wrapped. ``keyring`` must hold every
        master key in use (:class:`CryptoError` before any change otherwise). Safe to run while other
        processes serve, and to run twice at once: a key is only re-wrapped if still under the master key
        it was read with."""
        if batch < 1:
            raise ValueError("batch must be at least 1")
        missing = sorted(key_id for key_id in self.master_key_usage() if key_id not in keyring)
        if missing:
            raise CryptoError(
                f"the keyring lacks master keys {missing} that wrap data keys; rotate with a keyring "
                "that holds them and the new active key"
            )
        self._data_keys.master = keyring
        rewrapped = 0
        after = ""
        while True:
            with self._writing() as session:
                rows = session.execute(
                    select(DataKey.id, DataKey.master_key_id, DataKey.wrapped)
                    .where(DataKey.master_key_id != keyring.active, DataKey.id > after)
                    .order_by(DataKey.id)
                    .limit(batch)
                ).all()
                changes = []
                for row in rows:
                    key = unwrap(keyring, row.id, row.master_key_id, row.wrapped)
                    master_key_id, wrapped = wrap(keyring, row.id, key)
                    changes.append(
                        {
                            "b_id": row.id,
                            "b_old": row.master_key_id,
                            "b_new": master_key_id,
                            "b_wrapped": wrapped,
                        }
                    )
                if changes:
                    result = session.connection().execute(_REWRAP, changes)
                    rewrapped += result.rowcount
            if len(rows) < batch:
                return rewrapped
            after = rows[-1].id

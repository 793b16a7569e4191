"""API key rows: add, read, list, update, count; duplicates and unknown ids."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from deepfort.errors import NotFoundError
from deepfort.store import ApiKeyRow, RowExistsError, Store
from tests.store.conftest import Ticker


def add(store: Store, key_id: str, **extra: object) -> ApiKeyRow:
    fields: dict[str, object] = {
        "name": f"name of {key_id}",
        "role": "user",
        "salt": b"salt-" + key_id.encode(),
        "secret_hash": b"\x00h\xff",
    }
    return store.add_api_key(key_id, **(fields | extra))  # type: ignore[arg-type]


def test_roundtrip_of_every_field(store: Store, clock: Ticker) -> None:
    expires = clock.now + timedelta(days=30)
    added = store.add_api_key(
        "df-abc123",
        name="analyst",
        role="admin",
        salt=b"\x01" * 16,
        secret_hash=b"\x02" * 32,
        rate="60/min",
        tokens="200000/day",
        models=["smollm2-135m", "deepseek-r1"],
        pii_policy="block",
        expires_at=expires,
    )
    got = store.get_api_key("df-abc123")
    assert got == added
    assert got is not None
    assert got.models == ("smollm2-135m", "deepseek-r1")
    assert got.expires_at == expires
    assert got.revoked_at is None and got.last_used_at is None
    assert got.is_active(clock.now)
    assert store.get_api_key("df-nope") is None


def test_list_is_oldest_first_and_includes_revoked(store: Store, clock: Ticker) -> None:
    add(store, "b")
    add(store, "a")
    store.update_api_key("b", revoked_at=clock())
    assert [row.key_id for row in store.list_api_keys()] == ["b", "a"]


def test_update_changes_given_fields_only_and_none_clears(store: Store, clock: Ticker) -> None:
    add(store, "k", rate="10/min", models=["m1"])
    used = clock()
    updated = store.update_api_key("k", last_used_at=used, rate=None, models=("m2", "m3"), role="admin")
    assert updated.last_used_at == used
    assert updated.rate is None
    assert updated.models == ("m2", "m3")
    assert updated.role == "admin"
    assert updated.name == "name of k"
    assert store.get_api_key("k") == updated
    assert store.update_api_key("k") == updated


def test_update_unknown_key_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no API key 'ghost'"):
        store.update_api_key("ghost", name="x")
    with pytest.raises(NotFoundError):
        store.update_api_key("ghost")


def test_count_active_leaves_out_revoked_and_expired(store: Store, clock: Ticker) -> None:
    add(store, "live")
    add(store, "later", expires_at=clock.now + timedelta(days=1))
    add(store, "expired", expires_at=clock.now - timedelta(seconds=1))
    add(store, "revoked")
    store.update_api_key("revoked", revoked_at=clock())
    assert store.count_api_keys() == 2
    assert store.count_api_keys(active_only=False) == 4


def test_duplicate_key_id_is_a_clear_integrity_error(store: Store) -> None:
    add(store, "dup")
    with pytest.raises(RowExistsError, match="api_keys: key id 'dup' exists already") as caught:
        add(store, "dup")
    assert isinstance(caught.value, IntegrityError)
    assert b"\x00h\xff".hex() not in str(caught.value)


@pytest.mark.parametrize("where", ["add", "update"])
def test_unknown_role_is_refused(store: Store, where: str) -> None:
    with pytest.raises(ValueError, match="role must be one of"):
        if where == "add":
            add(store, "x", role="root")
        else:
            add(store, "x")
            store.update_api_key("x", role="root")  # type: ignore[typeddict-item]

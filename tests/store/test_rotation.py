"""Data key replacement, and master key rotation through a keyring file down to retiring the old key."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from deepfort.crypto.sm import Keyring, activate_key, generate_key, retire_key
from deepfort.errors import CryptoError
from deepfort.store import ConversationView, Store
from deepfort.store.models import Conversation, DataKey, Message


def fill(store: Store, conversations: int = 3) -> list[ConversationView]:
    for n in range(conversations):
        conversation = store.create_conversation(f"user{n % 2}", f"title {n}", "m")
        for turn in range(3):
            store.add_message(conversation.id, "user", f"q{n}.{turn}")
            store.add_message(conversation.id, "assistant", f"a{n}.{turn}", reasoning=f"r{n}.{turn}")
    return list(store.export_conversations(None))


def data_keys(store: Store) -> tuple[int, int]:
    """(all data keys, retired ones)"""
    with store.engine.connect() as connection:
        total = connection.scalar(select(func.count()).select_from(DataKey))
        retired = connection.scalar(select(func.count()).select_from(DataKey).where(DataKey.retired))
    return int(total or 0), int(retired or 0)


def test_data_key_is_replaced_after_its_field_budget(open_store: Callable[..., Store]) -> None:
    store = open_store(fields_per_data_key=4)
    before = fill(store)  # 3 titles, 18 message contents and 9 reasonings: 30 fields
    total, retired = data_keys(store)
    assert total >= 30 / 4
    assert retired == total - 1
    with store.engine.connect() as connection:
        sealed: Counter[str] = Counter()
        for data_key_id, reasoning in connection.execute(select(Message.data_key_id, Message.reasoning_enc)):
            sealed[data_key_id] += 1 if reasoning is None else 2
        sealed.update(connection.execute(select(Conversation.data_key_id)).scalars())
    assert sum(sealed.values()) == 30
    assert max(sealed.values()) <= 4
    assert list(open_store().export_conversations(None)) == before


def test_rotate_data_key_on_demand(store: Store) -> None:
    conversation = store.create_conversation("alice", "t", None)
    first = store.rotate_data_key()
    second = store.rotate_data_key()
    assert first != second
    store.add_message(conversation.id, "user", "under the newest key")
    assert data_keys(store) == (3, 2)
    got = store.get_conversation(conversation.id, "alice")
    assert got is not None and got.title == "t" and got.messages[0].content == "under the newest key"


def test_master_rotation_then_retiring_the_old_key(open_store: Callable[..., Store], tmp_path: Path) -> None:
    keyring_file = tmp_path / "master.keys"
    old = generate_key(keyring_file)
    store = open_store(Keyring.load(keyring_file), fields_per_data_key=6)
    before = fill(store)
    count = data_keys(store)[0]
    assert count > 3
    assert store.master_key_usage() == {old: count}

    new = generate_key(keyring_file, activate=False)  # first on every node, then activate
    activate_key(keyring_file, new)
    assert store.rotate_master(Keyring.load(keyring_file), batch=2) == count
    assert store.master_key_usage() == {new: count}
    assert store.rotate_master(Keyring.load(keyring_file)) == 0

    store.add_message(before[0].id, "user", "after rotation")  # new data keys come under the new master
    retire_key(keyring_file, old)
    retired = Keyring.load(keyring_file)
    assert old not in retired
    reopened = open_store(retired)
    after = list(reopened.export_conversations(None))
    assert [c.messages[: len(b.messages)] for c, b in zip(after, before, strict=True)] == [
        b.messages for b in before
    ]
    assert after[0].messages[-1].content == "after rotation"
    assert reopened.master_key_usage().get(old, 0) == 0


def test_rotation_needs_every_master_key_in_use(open_store: Callable[..., Store], tmp_path: Path) -> None:
    store = open_store(Keyring({"m1": bytes(16)}, "m1"))
    fill(store, conversations=1)
    without_old = Keyring({"m2": bytes(range(16))}, "m2")
    with pytest.raises(CryptoError, match=r"lacks master keys \['m1'\]"):
        store.rotate_master(without_old)
    assert store.master_key_usage() == {"m1": data_keys(store)[0]}
    assert len(list(store.export_conversations(None))) == 1  # the store still reads with its own keyring


def test_rotations_running_at_once_rewrap_each_key_once(open_store: Callable[..., Store]) -> None:
    store = open_store(Keyring({"m1": bytes(16)}, "m1"))
    fill(store, conversations=1)
    for _ in range(40):
        store.rotate_data_key()
    total = data_keys(store)[0]
    both = Keyring({"m1": bytes(16), "m2": bytes(range(16))}, "m2")
    rotators = [open_store(both) for _ in range(3)]
    with ThreadPoolExecutor(len(rotators)) as pool:
        counts = list(pool.map(lambda rotator: rotator.rotate_master(both, batch=4), rotators))
    assert sum(counts) == total
    assert store.master_key_usage() == {"m2": total}
    assert len(list(open_store(both.without_key("m1")).export_conversations(None))) == 1

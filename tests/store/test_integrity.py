"""Sealed fields fail loudly when altered, moved to another record or column, or left without a key."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from deepfort.crypto.sm import Keyring
from deepfort.errors import RecordIntegrityError
from deepfort.store import Store
from deepfort.store.fields import open_field, seal_field
from deepfort.store.models import Conversation, DataKey, Message

KEY = bytes(range(16))


def flip(blob: bytes, index: int) -> bytes:
    return blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]


def test_field_roundtrip_and_aad_binding() -> None:
    blob = seal_field(KEY, "messages", "m1", "content", "机密 text")
    assert open_field(KEY, "messages", "m1", "content", blob) == "机密 text"
    assert blob[0] == 1 and len(blob) == 1 + 12 + len("机密 text".encode()) + 16
    for table, record, column in [
        ("conversations", "m1", "content"),
        ("messages", "m2", "content"),
        ("messages", "m1", "reasoning"),
    ]:
        with pytest.raises(RecordIntegrityError, match=f"{table} record {record}, column {column}: failed"):
            open_field(KEY, table, record, column, blob)
    with pytest.raises(RecordIntegrityError, match="failed to decrypt"):
        open_field(bytes(16), "messages", "m1", "content", blob)


@pytest.mark.parametrize("index", [0, 1, 13, -1])
def test_any_altered_byte_fails(index: int) -> None:
    blob = seal_field(KEY, "messages", "m1", "content", "hello")
    with pytest.raises(RecordIntegrityError, match="messages record m1, column content"):
        open_field(KEY, "messages", "m1", "content", flip(blob, index))


def test_truncated_blob_fails() -> None:
    with pytest.raises(RecordIntegrityError, match="truncated"):
        open_field(KEY, "messages", "m1", "content", b"\x01" + bytes(20))


def raw(store: Store, statement: object) -> None:
    with store.engine.begin() as connection:
        connection.execute(statement)  # type: ignore[call-overload]


def blob_of(store: Store, column: object, row_id: str) -> bytes:
    table = Message if column in (Message.content_enc, Message.reasoning_enc) else Conversation
    with store.engine.connect() as connection:
        return bytes(connection.scalar(select(column).where(table.id == row_id)))  # type: ignore[arg-type,call-overload]


@pytest.fixture
def two(store: Store) -> tuple[str, str, str]:
    """A conversation and two messages in it: (conversation id, message 1 id, message 2 id)."""
    conversation = store.create_conversation("alice", "the title", None)
    first = store.add_message(conversation.id, "user", "first secret", reasoning="first thought")
    second = store.add_message(conversation.id, "assistant", "second secret", reasoning="second thought")
    return conversation.id, first.id, second.id


Tamper = Callable[[Store, str, str, str], tuple[str, str]]


def altered_content(store: Store, cid: str, m1: str, m2: str) -> tuple[str, str]:
    raw(
        store,
        update(Message)
        .where(Message.id == m1)
        .values(content_enc=flip(blob_of(store, Message.content_enc, m1), 20)),
    )
    return f"messages record {m1}", "content"


def swapped_contents(store: Store, cid: str, m1: str, m2: str) -> tuple[str, str]:
    raw(
        store,
        update(Message).where(Message.id == m1).values(content_enc=blob_of(store, Message.content_enc, m2)),
    )
    return f"messages record {m1}", "content"


def reasoning_into_content(store: Store, cid: str, m1: str, m2: str) -> tuple[str, str]:
    raw(
        store,
        update(Message).where(Message.id == m2).values(content_enc=blob_of(store, Message.reasoning_enc, m2)),
    )
    return f"messages record {m2}", "content"


def title_into_content(store: Store, cid: str, m1: str, m2: str) -> tuple[str, str]:
    # A title and a message under the same data key: only the AAD tells them apart.
    raw(
        store,
        update(Message)
        .where(Message.id == m1)
        .values(content_enc=blob_of(store, Conversation.title_enc, cid)),
    )
    return f"messages record {m1}", "content"


def content_into_title(store: Store, cid: str, m1: str, m2: str) -> tuple[str, str]:
    raw(
        store,
        update(Conversation)
        .where(Conversation.id == cid)
        .values(title_enc=blob_of(store, Message.content_enc, m1)),
    )
    return f"conversations record {cid}", "title"


def altered_data_key(store: Store, cid: str, m1: str, m2: str) -> tuple[str, str]:
    with store.engine.connect() as connection:
        key_id, wrapped = connection.execute(select(DataKey.id, DataKey.wrapped)).one()
    raw(store, update(DataKey).values(wrapped=flip(bytes(wrapped), 3)))
    return f"data_keys record {key_id}", "did not unwrap: authentication failed"


TAMPERS: list[Tamper] = [
    altered_content,
    swapped_contents,
    reasoning_into_content,
    title_into_content,
    content_into_title,
    altered_data_key,
]


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda tamper: tamper.__name__)
def test_tampered_records_raise_naming_the_place_not_the_text(
    open_store: Callable[..., Store], two: tuple[str, str, str], store: Store, tamper: Tamper
) -> None:
    cid, m1, m2 = two
    where, column = tamper(store, cid, m1, m2)
    fresh = open_store()  # no cached data keys: reads and unwraps everything again
    with pytest.raises(RecordIntegrityError) as caught:
        fresh.get_conversation(cid, "alice")
    message = caught.value.message
    assert where in message and column in message
    assert caught.value.code == "record_integrity"
    for plaintext in ["the title", "first secret", "second secret", "thought"]:
        assert plaintext not in message
    with pytest.raises(RecordIntegrityError):
        list(fresh.export_conversations(None))


def test_a_data_key_whose_master_key_is_gone_fails(
    open_store: Callable[..., Store], two: tuple[str, str, str]
) -> None:
    cid, _, _ = two
    stranger = open_store(Keyring({"m9": os.urandom(16)}, "m9"))
    with pytest.raises(RecordIntegrityError, match="did not unwrap: unknown key id 'm1'"):
        stranger.get_conversation(cid, "alice")


def test_unaltered_rows_still_read_after_a_neighbour_is_tampered(
    open_store: Callable[..., Store], two: tuple[str, str, str], store: Store
) -> None:
    cid, m1, m2 = two
    other = store.create_conversation("alice", "untouched", None)
    store.add_message(other.id, "user", "fine")
    swapped_contents(store, cid, m1, m2)
    fresh = open_store()
    got = fresh.get_conversation(other.id, "alice")
    assert got is not None and got.messages[0].content == "fine"

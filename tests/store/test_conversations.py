"""Conversations: sealed roundtrip, order, search, paging, and users seeing only their own."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text

from deepfort.errors import NotFoundError
from deepfort.store import NewMessage, Store
from deepfort.store.models import Message

CONTENT = "我的身份证号是 110101199003077777，请帮我 review 这段代码。"
REASONING = "<用户问的是代码>\nLet me think step by step… 🤔"


def test_roundtrip_decrypts_every_field(store: Store) -> None:
    created = store.create_conversation("alice", "关于 SM4 的问题", "deepseek-r1")
    assert created.messages == ()
    first = store.add_message(created.id, "user", CONTENT)
    second = store.add_message(
        created.id,
        "assistant",
        "答案是……",
        reasoning=REASONING,
        request_id="req-9",
        model="deepseek-r1",
        prompt_tokens=31,
        completion_tokens=77,
    )
    got = store.get_conversation(created.id, "alice")
    assert got is not None
    assert (got.id, got.owner, got.title, got.model) == (
        created.id,
        "alice",
        "关于 SM4 的问题",
        "deepseek-r1",
    )
    assert got.created_at == created.created_at
    assert got.updated_at == second.created_at > created.created_at
    assert got.messages == (first, second)
    assert [m.seq for m in got.messages] == [1, 2]
    assert got.messages[0].reasoning is None
    assert got.messages[1].reasoning == REASONING
    assert (got.messages[1].prompt_tokens, got.messages[1].completion_tokens) == (31, 77)


def test_nothing_readable_is_stored_in_the_clear(store: Store) -> None:
    conversation = store.create_conversation("alice", "secret-title-marker", None)
    store.add_message(conversation.id, "user", "secret-content-marker", reasoning="secret-reasoning-marker")
    with store.engine.connect() as connection:
        blobs = connection.execute(
            text("SELECT title_enc FROM conversations UNION ALL SELECT content_enc FROM messages")
        ).scalars()
        dump = b"".join(bytes(blob) for blob in blobs)
    assert b"secret" not in dump


def test_batched_messages_are_numbered_after_the_last(store: Store) -> None:
    conversation = store.create_conversation("alice", "t", None)
    store.add_message(conversation.id, "system", "be brief")
    added = store.add_messages(
        conversation.id,
        [NewMessage("user", "q"), NewMessage("assistant", "a", reasoning="r", prompt_tokens=3)],
    )
    assert [m.seq for m in added] == [2, 3]
    got = store.get_conversation(conversation.id, "alice")
    assert got is not None
    assert [(m.seq, m.role, m.content, m.reasoning) for m in got.messages] == [
        (1, "system", "be brief", None),
        (2, "user", "q", None),
        (3, "assistant", "a", "r"),
    ]
    assert store.add_messages(conversation.id, []) == []


def test_concurrent_appenders_get_distinct_consecutive_seqs(store: Store) -> None:
    conversation = store.create_conversation("alice", "t", None)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(8):
                store.add_message(conversation.id, "user", f"{worker}-{n}")
        except BaseException as exc:  # collected and re-raised by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    got = store.get_conversation(conversation.id, "alice")
    assert got is not None
    assert [m.seq for m in got.messages] == list(range(1, 33))
    assert sorted(m.content for m in got.messages) == sorted(f"{w}-{n}" for w in range(4) for n in range(8))


def test_message_to_missing_conversation_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="conversation nope not found"):
        store.add_message("nope", "user", "hi")


def test_list_newest_first_with_counts_paging_and_search(store: Store) -> None:
    ids = {}
    for title in ["Rust 生命周期", "Python typing", "rust macros", "SQL joins"]:
        ids[title] = store.create_conversation("alice", title, "m").id
    store.add_message(ids["Python typing"], "user", "x")  # now the most recently updated
    store.create_conversation("bob", "rust for bob", None)

    listed = store.list_conversations("alice")
    assert [c.title for c in listed] == ["Python typing", "SQL joins", "rust macros", "Rust 生命周期"]
    assert [c.message_count for c in listed] == [1, 0, 0, 0]
    assert {c.owner for c in listed} == {"alice"}
    assert [c.title for c in store.list_conversations("alice", limit=2, offset=1)] == [
        "SQL joins",
        "rust macros",
    ]
    assert [c.title for c in store.list_conversations("alice", query="RUST")] == [
        "rust macros",
        "Rust 生命周期",
    ]
    assert [c.title for c in store.list_conversations("alice", query="rust", limit=1, offset=1)] == [
        "Rust 生命周期"
    ]
    assert store.list_conversations("alice", query="生命")[0].id == ids["Rust 生命周期"]
    assert store.list_conversations("alice", query="nothing like it") == []
    assert len(store.list_conversations(None)) == 5
    assert [c.owner for c in store.list_conversations(None, query="rust")] == ["bob", "alice", "alice"]


def test_rename_keeps_messages_and_delete_removes_them(store: Store) -> None:
    conversation = store.create_conversation("alice", "old", None)
    store.add_message(conversation.id, "user", "hello", reasoning="r")
    assert store.rename_conversation(conversation.id, "alice", "新名字")
    got = store.get_conversation(conversation.id, "alice")
    assert got is not None
    assert got.title == "新名字"
    assert [m.content for m in got.messages] == ["hello"]

    assert store.delete_conversation(conversation.id, "alice")
    assert store.get_conversation(conversation.id, "alice") is None
    assert not store.delete_conversation(conversation.id, "alice")
    assert not store.rename_conversation(conversation.id, "alice", "x")
    with store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Message)) == 0  # cascaded


Action = Callable[[Store, str], object]
# What mallory gets when she reaches for alice's conversation; she has one of her own, titled "mine".
OTHERS_SEE_NOTHING: dict[str, tuple[Action, object]] = {
    "get": (lambda s, cid: s.get_conversation(cid, "mallory"), None),
    "rename": (lambda s, cid: s.rename_conversation(cid, "mallory", "pwned"), False),
    "delete": (lambda s, cid: s.delete_conversation(cid, "mallory"), False),
    "list": (lambda s, cid: [c.title for c in s.list_conversations("mallory")], ["mine"]),
    "search": (lambda s, cid: s.list_conversations("mallory", query="private"), []),
    "export": (lambda s, cid: [c.title for c in s.export_conversations("mallory")], ["mine"]),
}


@pytest.mark.parametrize("action", OTHERS_SEE_NOTHING)
def test_users_only_ever_see_their_own(store: Store, action: str) -> None:
    conversation = store.create_conversation("alice", "private plans", None)
    store.add_message(conversation.id, "user", "private content")
    store.create_conversation("mallory", "mine", None)
    call, expected = OTHERS_SEE_NOTHING[action]
    assert call(store, conversation.id) == expected
    got = store.get_conversation(conversation.id, "alice")
    assert got is not None
    assert got.title == "private plans"
    assert [m.content for m in got.messages] == ["private content"]
    assert store.get_conversation(conversation.id, None) == got  # admins see everyone's


def test_export_decrypts_everything_oldest_first(store: Store) -> None:
    first = store.create_conversation("alice", "one", "m")
    store.add_message(first.id, "user", "a1", reasoning="r1")
    second = store.create_conversation("alice", "two", "m")
    store.add_message(second.id, "user", "b1")
    other = store.create_conversation("bob", "three", "m")

    exported = list(store.export_conversations("alice"))
    assert [c.id for c in exported] == [first.id, second.id]
    assert [[(m.content, m.reasoning) for m in c.messages] for c in exported] == [
        [("a1", "r1")],
        [("b1", None)],
    ]
    assert exported[0] == store.get_conversation(first.id, "alice")
    assert [c.id for c in store.export_conversations(None)] == [first.id, second.id, other.id]

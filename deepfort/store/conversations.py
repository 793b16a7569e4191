"""Conversations and their messages, sealed field by field.

``owner`` is the API key id of the user (``"local"`` when auth is off). Methods that take ``owner: str``
act only on that owner's conversations, filtered in SQL; ``owner=None`` means every owner and is for
admins only: the caller decides who may pass it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from deepfort.errors import NotFoundError
from deepfort.store.base import StoreCore, rowcount
from deepfort.store.fields import open_field, seal_field
from deepfort.store.models import Conversation, Message
from deepfort.store.views import ConversationSummary, ConversationView, MessageView, NewMessage

_MESSAGE_COUNT = (
    select(func.count()).where(Message.conversation_id == Conversation.id).correlate(Conversation)
).scalar_subquery()
_NEWEST_FIRST = (Conversation.updated_at.desc(), Conversation.id.desc())


class ConversationMethods(StoreCore):
    def create_conversation(self, owner: str, title: str, model: str | None = None) -> ConversationView:
        data_key_id, key = self._data_keys.for_sealing(1)
        conversation_id = str(uuid.uuid4())
        now = self._clock()
        row = Conversation(
            id=conversation_id,
            owner_key_id=owner,
            title_enc=seal_field(key, "conversations", conversation_id, "title", title),
            data_key_id=data_key_id,
            model=model,
            created_at=now,
            updated_at=now,
        )
        with self._writing() as session:
            session.add(row)
        return ConversationView(conversation_id, owner, title, model, now, now, ())

    def add_message(
        self,
        conversation_id: str,
        role: str,
        content: str,
        reasoning: str | None = None,
        request_id: str | None = None,
        model: str | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> MessageView:
        """Append one message; :class:`NotFoundError` if the conversation does not exist."""
        message = NewMessage(role, content, reasoning, request_id, model, prompt_tokens, completion_tokens)
        return self.add_messages(conversation_id, [message])[0]

    def add_messages(self, conversation_id: str, messages: Sequence[NewMessage]) -> list[MessageView]:
        """Append ``messages`` in one transaction, numbered after the conversation's last one."""
        if not messages:
            return []
        data_key_id, key = self._data_keys.for_sealing(2 * len(messages))
        now = self._clock()
        with self._writing() as session:
            # The row lock (PostgreSQL) or the write lock (SQLite) serialises appenders, so seq is unique.
            locked = session.execute(
                select(Conversation.id).where(Conversation.id == conversation_id).with_for_update()
            ).scalar_one_or_none()
            if locked is None:
                raise NotFoundError(f"conversation {conversation_id} not found")
            last = session.scalar(
                select(func.max(Message.seq)).where(Message.conversation_id == conversation_id)
            )
            views = []
            for seq, message in enumerate(messages, start=(last or 0) + 1):
                message_id = str(uuid.uuid4())
                reasoning = message.reasoning
                session.add(
                    Message(
                        id=message_id,
                        conversation_id=conversation_id,
                        seq=seq,
                        role=message.role,
                        content_enc=seal_field(key, "messages", message_id, "content", message.content),
                        reasoning_enc=None
                        if reasoning is None
                        else seal_field(key, "messages", message_id, "reasoning", reasoning),
                        data_key_id=data_key_id,
                        request_id=message.request_id,
                        model=message.model,
                        prompt_tokens=message.prompt_tokens,
                        completion_tokens=message.completion_tokens,
                        created_at=now,
                    )
                )
                views.append(
                    MessageView(
                        message_id,
                        conversation_id,
                        seq,
                        message.role,
                        message.content,
                        reasoning,
                        message.request_id,
                        message.model,
                        message.prompt_tokens,
                        message.completion_tokens,
                        now,
                    )
                )
            session.execute(
                update(Conversation).where(Conversation.id == conversation_id).values(updated_at=now)
            )
        return views

    def list_conversations(
        self, owner: str | None, limit: int = 50, offset: int = 0, query: str | None = None
    ) -> list[ConversationSummary]:
        """Conversations, most recently updated first. ``query`` keeps those whose title contains it,
        ignoring case; titles are sealed, so that filter decrypts every title of the owner."""
        statement = select(Conversation, _MESSAGE_COUNT).order_by(*_NEWEST_FIRST)
        if owner is not None:
            statement = statement.where(Conversation.owner_key_id == owner)
        if query is None:
            statement = statement.limit(limit).offset(offset)
        needle = None if query is None else query.casefold()
        found: list[ConversationSummary] = []
        with self._reading() as session:
            for row, count in session.execute(statement):
                title = self._title(session, row)
                if needle is not None and needle not in title.casefold():
                    continue
                found.append(
                    ConversationSummary(
                        row.id, row.owner_key_id, title, row.model, row.created_at, row.updated_at, count
                    )
                )
        return found if query is None else found[offset : offset + limit]

    def get_conversation(self, conversation_id: str, owner: str | None) -> ConversationView | None:
        """The conversation with its messages in order, or None if it does not exist or is not ``owner``'s."""
        with self._reading() as session:
            row = session.scalars(
                select(Conversation).where(Conversation.id == conversation_id, *_owned(owner))
            ).one_or_none()
            if row is None:
                return None
            messages = session.scalars(
                select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)
            )
            return ConversationView(
                row.id,
                row.owner_key_id,
                self._title(session, row),
                row.model,
                row.created_at,
                row.updated_at,
                tuple(self._message(session, message) for message in messages),
            )

    def rename_conversation(self, conversation_id: str, owner: str | None, title: str) -> bool:
        """Whether the conversation existed (and was ``owner``'s) and is renamed."""
        data_key_id, key = self._data_keys.for_sealing(1)
        sealed = seal_field(key, "conversations", conversation_id, "title", title)
        with self._writing() as session:
            statement = (
                update(Conversation)
                .where(Conversation.id == conversation_id, *_owned(owner))
                .values(title_enc=sealed, data_key_id=data_key_id)
            )
            return rowcount(session, statement) == 1

    def delete_conversation(self, conversation_id: str, owner: str | None) -> bool:
        """Whether the conversation existed (and was ``owner``'s) and is deleted with its messages."""
        with self._writing() as session:
            statement = delete(Conversation).where(Conversation.id == conversation_id, *_owned(owner))
            return rowcount(session, statement) == 1

    def export_conversations(self, owner: str | None) -> Iterator[ConversationView]:
        """Every conversation of ``owner`` (None: of everyone), decrypted, oldest first; each is read in a
        transaction of its own, so a long export holds no lock. One deleted meanwhile is skipped."""
        with self._reading() as session:
            ids = list(
                session.scalars(
                    select(Conversation.id)
                    .where(*_owned(owner))
                    .order_by(Conversation.created_at, Conversation.id)
                )
            )
        for conversation_id in ids:
            view = self.get_conversation(conversation_id, owner)
            if view is not None:
                yield view

    def _title(self, session: Session, row: Conversation) -> str:
        key = self._data_keys.key(session, row.data_key_id)
        return open_field(key, "conversations", row.id, "title", row.title_enc)

    def _message(self, session: Session, row: Message) -> MessageView:
        key = self._data_keys.key(session, row.data_key_id)
        reasoning = None
        if row.reasoning_enc is not None:
            reasoning = open_field(key, "messages", row.id, "reasoning", row.reasoning_enc)
        return MessageView(
            row.id,
            row.conversation_id,
            row.seq,
            row.role,
            open_field(key, "messages", row.id, "content", row.content_enc),
            reasoning,
            row.request_id,
            row.model,
            row.prompt_tokens,
            row.completion_tokens,
            row.created_at,
        )


def _owned(owner: str | None) -> tuple[ColumnElement[bool], ...]:
    return () if owner is None else (Conversation.owner_key_id == owner,)

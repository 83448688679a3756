"""Message history, conversations, contacts (and, from ``history_outbox``, the outbox
and the bundle cache), over a store connection.

Synchronous: every method runs in the account's store thread (``DeviceStore.run``).
Rows become ``models`` dataclasses here and nowhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from peerwave_tui.models import (
    ChatMessage,
    Contact,
    Conversation,
    ConversationKind,
    Direction,
    MessageKind,
    MessageStatus,
    ms_to_datetime,
)
from peerwave_tui.storage.history_outbox import (
    DONE,
    FAILED,
    QUEUED,
    SENT,
    OutboxTables,
    OutgoingCopy,
    OutgoingItem,
)

__all__ = [
    "DONE",
    "FAILED",
    "QUEUED",
    "SENT",
    "History",
    "OutgoingCopy",
    "OutgoingItem",
    "UnreportedMessage",
]

_MESSAGE_COLUMNS = (
    "id, conversation_id, item_id, sender, sender_device, direction, kind, body, detail, "
    "status, created_at"
)


@dataclass(frozen=True)
class UnreportedMessage:
    """A message `receive` has not printed yet, with what it prints."""

    message: ChatMessage
    conversation_title: str | None
    conversation_kind: ConversationKind


def _message(row: Any, sender_name: str | None = None) -> ChatMessage:
    return ChatMessage(
        local_id=row[0],
        conversation_id=row[1],
        item_id=row[2],
        sender_id=row[3],
        sender_device=row[4],
        direction=Direction(row[5]),
        kind=MessageKind(row[6]),
        text=row[7],
        detail=row[8],
        status=MessageStatus(row[9]),
        timestamp=ms_to_datetime(row[10]),
        sender_name=sender_name,
    )


class History(OutboxTables):
    """The history tables of one store. Construct per call, inside the store thread."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._names: dict[str, str | None] = {}  # contact names read by this instance
        self._ensured: set[str] = set()  # conversations this instance made sure exist
        self._deferred: dict[str, tuple[int, int]] | None = None  # see defer_touches

    # --- contacts ----------------------------------------------------------------

    def upsert_contact(self, contact: Contact, now_ms: int) -> None:
        self._names.pop(contact.user_id, None)
        self.conn.execute(
            "INSERT INTO contacts (user_id, display_name, at_name, email, online, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET"
            " display_name = excluded.display_name, at_name = excluded.at_name,"
            " email = COALESCE(excluded.email, contacts.email), online = excluded.online,"
            " updated_at = excluded.updated_at",
            (
                contact.user_id,
                contact.display_name,
                contact.at_name,
                contact.email,
                int(contact.online),
                now_ms,
            ),
        )
        self.conn.execute(
            "UPDATE conversations SET title = ? WHERE conversation_id = ? AND kind = ?",
            (contact.display_name, contact.user_id, ConversationKind.DIRECT.value),
        )

    def contacts(self) -> list[Contact]:
        rows = self.conn.execute(
            "SELECT user_id, display_name, at_name, email, online, last_seen FROM contacts"
        ).fetchall()
        return [
            Contact(
                user_id=r[0],
                display_name=r[1] or r[0],
                at_name=r[2],
                email=r[3],
                online=bool(r[4]),
                last_seen=ms_to_datetime(r[5]) if r[5] else None,
            )
            for r in rows
        ]

    def contact_name(self, user_id: str) -> str | None:
        if user_id in self._names:
            return self._names[user_id]
        row = self.conn.execute(
            "SELECT display_name FROM contacts WHERE user_id = ?", (user_id,)
        ).fetchone()
        name = row[0] if row else None
        self._names[user_id] = name
        return name

    def set_presence(self, user_id: str, online: bool, last_seen_ms: int | None) -> bool:
        """Record presence for a known contact; False when the user is not a contact."""
        cur = self.conn.execute(
            "UPDATE contacts SET online = ?, last_seen = COALESCE(?, last_seen) WHERE user_id = ?",
            (int(online), last_seen_ms, user_id),
        )
        return bool(cur.rowcount)

    # --- conversations -----------------------------------------------------------

    def ensure_conversation(
        self, conversation_id: str, kind: ConversationKind, title: str | None = None
    ) -> None:
        if title is None and conversation_id in self._ensured:
            return  # a batch of messages to one conversation asks once
        self._ensured.add(conversation_id)
        self.conn.execute(
            "INSERT INTO conversations (conversation_id, kind, title) VALUES (?, ?, ?)"
            " ON CONFLICT(conversation_id) DO UPDATE SET"
            " title = COALESCE(excluded.title, conversations.title)",
            (conversation_id, kind.value, title),
        )

    def conversation(self, conversation_id: str) -> Conversation | None:
        rows = self._conversation_rows("WHERE c.conversation_id = ?", (conversation_id,))
        return rows[0] if rows else None

    def conversations(self) -> list[Conversation]:
        convs = self._conversation_rows("", ())
        convs.sort(key=lambda c: (c.last_activity is not None, c.last_activity), reverse=True)
        return convs

    def _conversation_rows(self, where: str, params: tuple[Any, ...]) -> list[Conversation]:
        rows = self.conn.execute(
            "SELECT c.conversation_id, c.kind, COALESCE(c.title, k.display_name),"
            " c.last_activity, c.unread, c.mentions, COALESCE(k.online, 0), c.member_count,"
            " EXISTS (SELECT 1 FROM identities i WHERE i.user_id = c.conversation_id"
            " AND i.pending_key IS NOT NULL), ch.left_at"
            " FROM conversations c LEFT JOIN contacts k ON k.user_id = c.conversation_id"
            " LEFT JOIN channels ch ON ch.channel_id = c.conversation_id " + where,
            params,
        ).fetchall()
        return [
            Conversation(
                conversation_id=r[0],
                kind=ConversationKind(r[1]),
                # A channel we left stays, as history, and says so.
                title=(r[2] or r[0]) + (" (left)" if r[9] is not None else ""),
                last_activity=ms_to_datetime(r[3]) if r[3] else None,
                unread=r[4],
                mentions=r[5],
                online=bool(r[6]),
                member_count=r[7],
                identity_blocked=bool(r[8]),
            )
            for r in rows
        ]

    def _touch(self, conversation_id: str, at_ms: int, unread_delta: int) -> None:
        if self._deferred is not None:
            last, unread = self._deferred.get(conversation_id, (0, 0))
            self._deferred[conversation_id] = (max(last, at_ms), unread + unread_delta)
            return
        self.conn.execute(
            "UPDATE conversations SET last_activity = MAX(COALESCE(last_activity, 0), ?),"
            " unread = unread + ? WHERE conversation_id = ?",
            (at_ms, unread_delta, conversation_id),
        )

    def defer_touches(self) -> None:
        """Collect the conversations' activity and unread counts of a batch of inserts
        and write them once per conversation at ``flush_touches`` (same transaction)."""
        if self._deferred is None:
            self._deferred = {}

    def flush_touches(self) -> None:
        deferred, self._deferred = self._deferred, None
        for conversation_id, (at_ms, unread_delta) in (deferred or {}).items():
            self._touch(conversation_id, at_ms, unread_delta)

    # --- dedupe ledger -----------------------------------------------------------

    def is_processed(self, sender: str, sender_device: int, item_id: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM processed_items WHERE sender = ? AND sender_device = ? AND item_id = ?",
            (sender, sender_device, item_id),
        ).fetchone()
        return row is not None

    def mark_processed(self, sender: str, sender_device: int, item_id: str, now_ms: int) -> bool:
        """Record the item in the ledger; False when it was there already (a duplicate:
        it must not be decrypted again)."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO processed_items (sender, sender_device, item_id,"
            " processed_at) VALUES (?, ?, ?, ?)",
            (sender, sender_device, item_id, now_ms),
        )
        return bool(cur.rowcount)

    def forget_processed_before(self, cutoff_ms: int) -> int:
        """Drop ledger rows older than the server could still re-deliver."""
        return int(
            self.conn.execute(
                "DELETE FROM processed_items WHERE processed_at < ?", (cutoff_ms,)
            ).rowcount
        )

    # --- messages ----------------------------------------------------------------

    def insert_own_text(
        self,
        *,
        conversation_id: str,
        conversation_kind: ConversationKind,
        item_id: str,
        sender: str,
        sender_device: int,
        text: str,
        created_at: int,
    ) -> ChatMessage:
        """A text this device writes: pending until sent, never "new" to ``receive``."""
        message = self.insert_message(
            conversation_id=conversation_id,
            conversation_kind=conversation_kind,
            item_id=item_id,
            sender=sender,
            sender_device=sender_device,
            direction=Direction.OUT,
            kind=MessageKind.TEXT,
            body=text,
            status=MessageStatus.PENDING,
            created_at=created_at,
            reported=True,
        )
        assert message is not None  # the item id is fresh
        return message

    def insert_message(
        self,
        *,
        conversation_id: str,
        conversation_kind: ConversationKind,
        item_id: str,
        sender: str,
        sender_device: int,
        direction: Direction,
        kind: MessageKind,
        body: str,
        status: MessageStatus,
        created_at: int,
        detail: str | None = None,
        unread: bool = False,
        reported: bool = False,
    ) -> ChatMessage | None:
        """Insert a history row; None when (sender, device, item) already exists."""
        self.ensure_conversation(conversation_id, conversation_kind)
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO messages (conversation_id, item_id, sender, sender_device,"
            " direction, kind, body, detail, status, created_at, reported, seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                item_id,
                sender,
                sender_device,
                direction.value,
                kind.value,
                body,
                detail,
                status.value,
                created_at,
                int(reported),
                int(not unread),
            ),
        )
        if not cur.rowcount:
            return None
        self._touch(conversation_id, created_at, 1 if unread else 0)
        return ChatMessage(
            local_id=int(cur.lastrowid),
            conversation_id=conversation_id,
            item_id=item_id,
            sender_id=sender,
            sender_device=sender_device,
            direction=direction,
            kind=kind,
            text=body,
            detail=detail,
            status=status,
            timestamp=ms_to_datetime(created_at),
            sender_name=self.contact_name(sender),
        )

    def message_by_item(self, item_id: str, sender: str | None = None) -> ChatMessage | None:
        sql = f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE item_id = ?"
        params: tuple[Any, ...] = (item_id,)
        if sender is not None:
            sql += " AND sender = ?"
            params += (sender,)
        row = self.conn.execute(sql + " ORDER BY id LIMIT 1", params).fetchone()
        return _message(row, self.contact_name(row[3])) if row else None

    def page(self, conversation_id: str, before: int | None, limit: int) -> list[ChatMessage]:
        """Up to ``limit`` messages older than ``before`` (local id), ascending."""
        if before is None:
            rows = self.conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?"
                " ORDER BY id DESC LIMIT ?",
                (conversation_id, limit),
            ).fetchall()
        else:
            rows = self.conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND id < ?"
                " ORDER BY id DESC LIMIT ?",
                (conversation_id, before, limit),
            ).fetchall()
        names: dict[str, str | None] = {}
        result = []
        for row in reversed(rows):
            if row[3] not in names:
                names[row[3]] = self.contact_name(row[3])
            result.append(_message(row, names[row[3]]))
        return result

    def set_status(self, item_id: str, status: MessageStatus, detail: str | None = None) -> bool:
        """Set the status of our own message ``item_id``; never downgrades read."""
        cur = self.conn.execute(
            "UPDATE messages SET status = ?, detail = ? WHERE item_id = ? AND direction = ?"
            " AND status != ?",
            (status.value, detail, item_id, Direction.OUT.value, MessageStatus.READ.value),
        )
        return bool(cur.rowcount)

    def mark_read_by_peer(self, item_id: str, peer: str) -> bool:
        """A read receipt from ``peer``: our message ``item_id`` in the conversation
        with them is read (a receipt naming another conversation's message is ignored)."""
        cur = self.conn.execute(
            "UPDATE messages SET status = ?, detail = NULL WHERE item_id = ? AND direction = ?"
            " AND conversation_id = ? AND status != ?",
            (
                MessageStatus.READ.value,
                item_id,
                Direction.OUT.value,
                peer,
                MessageStatus.READ.value,
            ),
        )
        return bool(cur.rowcount)

    def insert_notice(
        self, conversation_id: str, about: str, device: int, text: str, now_ms: int
    ) -> ChatMessage | None:
        """A local notice in a 1:1 conversation (identity change, new device)."""
        return self.insert_message(
            conversation_id=conversation_id,
            conversation_kind=ConversationKind.DIRECT,
            item_id=f"notice-{uuid.uuid4()}",
            sender=about,
            sender_device=device,
            direction=Direction.IN,
            kind=MessageKind.NOTICE,
            body=text,
            status=MessageStatus.RECEIVED,
            created_at=now_ms,
            reported=True,
        )

    def mark_incoming_seen(self, item_id: str, sender: str) -> str | None:
        """A message of ``sender`` was read on another of our devices; returns its
        conversation when something changed."""
        row = self.conn.execute(
            "SELECT id, conversation_id, seen FROM messages WHERE item_id = ? AND sender = ?"
            " AND direction = ?",
            (item_id, sender, Direction.IN.value),
        ).fetchone()
        if row is None or row[2]:
            return None
        self.conn.execute("UPDATE messages SET seen = 1, read_receipt = 1 WHERE id = ?", (row[0],))
        self._recount_unread(row[1])
        return str(row[1])

    def mark_conversation_seen(self, conversation_id: str) -> list[tuple[str, str]]:
        """Everything in the conversation is seen. Returns (item_id, sender) of incoming
        text messages that still need a read receipt (and marks them as receipted)."""
        rows = self.conn.execute(
            "SELECT id, item_id, sender FROM messages WHERE conversation_id = ?"
            " AND direction = ? AND kind = ? AND read_receipt = 0",
            (conversation_id, Direction.IN.value, MessageKind.TEXT.value),
        ).fetchall()
        self.conn.execute(
            "UPDATE messages SET seen = 1 WHERE conversation_id = ? AND seen = 0",
            (conversation_id,),
        )
        if rows:
            self.conn.executemany(
                "UPDATE messages SET read_receipt = 1 WHERE id = ?", [(r[0],) for r in rows]
            )
        self.conn.execute(
            "UPDATE conversations SET unread = 0, mentions = 0 WHERE conversation_id = ?",
            (conversation_id,),
        )
        return [(r[1], r[2]) for r in rows]

    def _recount_unread(self, conversation_id: str) -> None:
        if self._deferred is not None and conversation_id in self._deferred:
            # The count below includes the batch's rows so far: drop their deltas.
            self._deferred[conversation_id] = (self._deferred[conversation_id][0], 0)
        self.conn.execute(
            "UPDATE conversations SET unread = (SELECT COUNT(*) FROM messages"
            " WHERE conversation_id = ? AND direction = 'in' AND seen = 0)"
            " WHERE conversation_id = ?",
            (conversation_id, conversation_id),
        )

    def unreported(self, limit: int = 1000) -> list[UnreportedMessage]:
        """Conversation messages (incoming, and sync copies of our other devices' messages)
        that `receive` has not printed yet, oldest first."""
        rows = self.conn.execute(
            f"SELECT {', '.join('m.' + c.strip() for c in _MESSAGE_COLUMNS.split(','))},"
            " c.title, c.kind"
            " FROM messages m JOIN conversations c ON c.conversation_id = m.conversation_id"
            " WHERE m.reported = 0 AND m.kind IN (?, ?, ?) ORDER BY m.id LIMIT ?",
            (
                MessageKind.TEXT.value,
                MessageKind.UNDECRYPTABLE.value,
                MessageKind.UNSUPPORTED.value,
                limit,
            ),
        ).fetchall()
        result = []
        for row in rows:
            message = _message(row[:11], self.contact_name(row[3]))
            title = row[11]
            kind = ConversationKind(row[12])
            if kind is ConversationKind.DIRECT:
                title = self.contact_name(message.conversation_id) or title
            result.append(UnreportedMessage(message, title, kind))
        return result

    def mark_reported(self, local_ids: Iterable[int]) -> None:
        self.conn.executemany(
            "UPDATE messages SET reported = 1 WHERE id = ?", [(i,) for i in local_ids]
        )

"""Message history, conversations, contacts and the outbox, over a store connection.

Synchronous: every method runs in the account's store thread (``DeviceStore.run``).
Rows become ``models`` dataclasses here and nowhere else.
"""

from __future__ import annotations

import json
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

_MESSAGE_COLUMNS = (
    "id, conversation_id, item_id, sender, sender_device, direction, kind, body, detail, "
    "status, created_at"
)

# Outgoing item states.
QUEUED = "queued"  # waiting to be encrypted and sent
SENT = "sent"  # ciphertexts kept in outgoing_copies; waiting for every receipt
DONE = "done"  # every copy stored on the server
FAILED = "failed"  # gave up; the user may retry


@dataclass(frozen=True)
class OutgoingItem:
    seq: int
    item_id: str
    peer: str
    type: str
    message_id: int | None
    plaintext: bytes | None
    state: str
    created_at: int
    detail: str | None


@dataclass(frozen=True)
class OutgoingCopy:
    item_id: str
    recipient: str
    recipient_device: int
    cipher_type: int
    payload: str
    stored: bool


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


class History:
    """The history tables of one store. Construct per call, inside the store thread."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    # --- contacts ----------------------------------------------------------------

    def upsert_contact(self, contact: Contact, now_ms: int) -> None:
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
        row = self.conn.execute(
            "SELECT display_name FROM contacts WHERE user_id = ?", (user_id,)
        ).fetchone()
        return row[0] if row else None

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
            " c.last_activity, c.unread, c.mentions, COALESCE(k.online, 0), c.member_count"
            " FROM conversations c LEFT JOIN contacts k ON k.user_id = c.conversation_id " + where,
            params,
        ).fetchall()
        return [
            Conversation(
                conversation_id=r[0],
                kind=ConversationKind(r[1]),
                title=r[2] or r[0],
                last_activity=ms_to_datetime(r[3]) if r[3] else None,
                unread=r[4],
                mentions=r[5],
                online=bool(r[6]),
                member_count=r[7],
            )
            for r in rows
        ]

    def _touch(self, conversation_id: str, at_ms: int, unread_delta: int) -> None:
        self.conn.execute(
            "UPDATE conversations SET last_activity = MAX(COALESCE(last_activity, 0), ?),"
            " unread = unread + ? WHERE conversation_id = ?",
            (at_ms, unread_delta, conversation_id),
        )

    # --- dedupe ledger -----------------------------------------------------------

    def is_processed(self, sender: str, sender_device: int, item_id: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM processed_items WHERE sender = ? AND sender_device = ? AND item_id = ?",
            (sender, sender_device, item_id),
        ).fetchone()
        return row is not None

    def mark_processed(self, sender: str, sender_device: int, item_id: str, now_ms: int) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO processed_items (sender, sender_device, item_id,"
            " processed_at) VALUES (?, ?, ?, ?)",
            (sender, sender_device, item_id, now_ms),
        )

    def forget_processed_before(self, cutoff_ms: int) -> int:
        """Drop ledger rows older than the server could still re-deliver."""
        return int(
            self.conn.execute(
                "DELETE FROM processed_items WHERE processed_at < ?", (cutoff_ms,)
            ).rowcount
        )

    # --- messages ----------------------------------------------------------------

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

    # --- outbox ------------------------------------------------------------------

    def enqueue(
        self,
        *,
        item_id: str,
        peer: str,
        type: str,
        created_at: int,
        message_id: int | None = None,
        plaintext: bytes | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO outgoing (item_id, peer, type, message_id, plaintext, state,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (item_id, peer, type, message_id, plaintext, QUEUED, created_at),
        )

    def open_outgoing(self) -> list[OutgoingItem]:
        """Items not yet done or failed, in the order they were written."""
        rows = self.conn.execute(
            "SELECT seq, item_id, peer, type, message_id, plaintext, state, created_at, detail"
            " FROM outgoing WHERE state IN (?, ?) ORDER BY seq",
            (QUEUED, SENT),
        ).fetchall()
        return [
            OutgoingItem(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                bytes(r[5]) if r[5] is not None else None,
                r[6],
                r[7],
                r[8],
            )
            for r in rows
        ]

    def failed_outgoing(self, peer: str) -> list[OutgoingItem]:
        rows = self.conn.execute(
            "SELECT item_id FROM outgoing WHERE peer = ? AND state = ? ORDER BY seq",
            (peer, FAILED),
        ).fetchall()
        return [item for (item_id,) in rows if (item := self.outgoing(item_id)) is not None]

    def outgoing(self, item_id: str) -> OutgoingItem | None:
        r = self.conn.execute(
            "SELECT seq, item_id, peer, type, message_id, plaintext, state, created_at, detail"
            " FROM outgoing WHERE item_id = ?",
            (item_id,),
        ).fetchone()
        if r is None:
            return None
        plaintext = bytes(r[5]) if r[5] is not None else None
        return OutgoingItem(r[0], r[1], r[2], r[3], r[4], plaintext, r[6], r[7], r[8])

    def message_text(self, message_id: int) -> str | None:
        row = self.conn.execute("SELECT body FROM messages WHERE id = ?", (message_id,)).fetchone()
        return row[0] if row else None

    def set_outgoing_state(self, item_id: str, state: str, detail: str | None = None) -> None:
        self.conn.execute(
            "UPDATE outgoing SET state = ?, detail = ? WHERE item_id = ?",
            (state, detail, item_id),
        )

    def save_copies(self, item_id: str, copies: Iterable[tuple[str, int, int, str]]) -> None:
        """Keep the ciphertext for each target device: (recipient, device, type, b64)."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO outgoing_copies (item_id, recipient, recipient_device,"
            " cipher_type, payload, stored) VALUES (?, ?, ?, ?, ?, 0)",
            [(item_id, r, d, t, p) for r, d, t, p in copies],
        )

    def copies(self, item_id: str) -> list[OutgoingCopy]:
        rows = self.conn.execute(
            "SELECT item_id, recipient, recipient_device, cipher_type, payload, stored"
            " FROM outgoing_copies WHERE item_id = ? ORDER BY recipient, recipient_device",
            (item_id,),
        ).fetchall()
        return [OutgoingCopy(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]

    def mark_copy_stored(self, item_id: str, recipient: str, device: int) -> bool:
        """Record a deliveryReceipt; True when this made every copy of the item stored."""
        cur = self.conn.execute(
            "UPDATE outgoing_copies SET stored = 1 WHERE item_id = ? AND recipient = ?"
            " AND recipient_device = ? AND stored = 0",
            (item_id, recipient, device),
        )
        if not cur.rowcount:
            return False
        left = self.conn.execute(
            "SELECT COUNT(*) FROM outgoing_copies WHERE item_id = ? AND stored = 0", (item_id,)
        ).fetchone()[0]
        if left:
            return False
        self.conn.execute(
            "UPDATE outgoing SET state = ? WHERE item_id = ? AND state = ?", (DONE, item_id, SENT)
        )
        return True

    def drop_copies(self, item_id: str) -> None:
        self.conn.execute("DELETE FROM outgoing_copies WHERE item_id = ?", (item_id,))

    def prune_done(self, before_ms: int) -> None:
        """Ciphertexts of finished items are no longer needed."""
        self.conn.execute(
            "DELETE FROM outgoing_copies WHERE item_id IN (SELECT item_id FROM outgoing"
            " WHERE state = ? AND created_at < ?)",
            (DONE, before_ms),
        )

    # --- bundle cache ------------------------------------------------------------

    def cached_bundle(self, user_id: str) -> tuple[list[dict[str, Any]], int] | None:
        row = self.conn.execute(
            "SELECT devices, fetched_at FROM bundle_cache WHERE user_id = ?", (user_id,)
        ).fetchone()
        if row is None:
            return None
        return json.loads(row[0]), int(row[1])

    def cache_bundle(self, user_id: str, devices: list[dict[str, Any]], now_ms: int) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO bundle_cache (user_id, devices, fetched_at) VALUES (?, ?, ?)",
            (user_id, json.dumps(devices), now_ms),
        )

    def forget_bundle(self, user_id: str) -> None:
        self.conn.execute("DELETE FROM bundle_cache WHERE user_id = ?", (user_id,))

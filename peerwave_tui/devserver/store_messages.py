"""Stored 1:1 items, group items and group reads, and the merged pending list.

The pending list (protocol.md section 5.5) merges two index-ordered streams, the
device's 1:1 items and the unread group items of the user's channels, so each page
costs O(offset + limit), not a sort of everything stored.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from peerwave_tui.devserver.db import Database
from peerwave_tui.devserver.util import iso


@dataclass(frozen=True)
class GroupItem:
    seq: int
    item_id: str
    channel_id: str
    sender: str
    sender_device: int
    type: str
    payload: str
    cipher_type: int
    timestamp: str
    created_ms: int

    def to_event(self) -> dict[str, Any]:
        """The ``groupItem`` event body and one element of the group-items history."""
        return {
            "itemId": self.item_id,
            "channel": self.channel_id,
            "sender": self.sender,
            "senderDevice": self.sender_device,
            "type": self.type,
            "payload": self.payload,
            "cipherType": self.cipher_type,
            "timestamp": self.timestamp,
        }


def _group_item(row: sqlite3.Row) -> GroupItem:
    return GroupItem(
        seq=int(row["seq"]),
        item_id=row["item_id"],
        channel_id=row["channel_id"],
        sender=row["sender"],
        sender_device=int(row["sender_device"]),
        type=row["type"],
        payload=row["payload"],
        cipher_type=int(row["cipher_type"]),
        timestamp=row["timestamp"],
        created_ms=int(row["created_ms"]),
    )


class Messages:
    def __init__(self, db: Database, now_ms: Callable[[], int]) -> None:
        self._db = db
        self._now_ms = now_ms

    # ------------------------------------------------------------- 1:1 items

    def add_item(
        self,
        *,
        item_id: str,
        sender: str,
        sender_device: int,
        recipient: str,
        recipient_device: int,
        item_type: str,
        payload: str,
        cipher_type: int,
        original_recipient: str | None,
    ) -> int:
        cursor = self._db.execute(
            "INSERT INTO items (item_id, sender, sender_device, recipient, recipient_device,"
            " type, payload, cipher_type, original_recipient, created_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item_id,
                sender,
                sender_device,
                recipient,
                recipient_device,
                item_type,
                payload,
                cipher_type,
                original_recipient,
                self._now_ms(),
            ),
        )
        return int(cursor.lastrowid or 0)

    def mark_delivered(self, seq: int) -> None:
        self._db.execute("UPDATE items SET delivered_ms = ? WHERE seq = ?", (self._now_ms(), seq))

    def delete_items(self, recipient: str, recipient_device: int, item_id: str) -> int:
        """Delete the rows with ``item_id`` addressed to that device only."""
        cursor = self._db.execute(
            "DELETE FROM items WHERE recipient = ? AND recipient_device = ? AND item_id = ?",
            (recipient, recipient_device, item_id),
        )
        return cursor.rowcount

    def count_items(self, recipient: str, recipient_device: int) -> int:
        return int(
            self._db.scalar(
                "SELECT COUNT(*) FROM items WHERE recipient = ? AND recipient_device = ?",
                (recipient, recipient_device),
            )
        )

    # ----------------------------------------------------------- group items

    def add_group_item(
        self,
        *,
        item_id: str,
        channel_id: str,
        sender: str,
        sender_device: int,
        item_type: str,
        payload: str,
        cipher_type: int,
        timestamp: str,
    ) -> GroupItem | None:
        """Store one group item; None when the itemId exists already."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO group_items (item_id, channel_id, sender, sender_device,"
            " type, payload, cipher_type, timestamp, created_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item_id,
                channel_id,
                sender,
                sender_device,
                item_type,
                payload,
                cipher_type,
                timestamp,
                self._now_ms(),
            ),
        )
        if cursor.rowcount != 1:
            return None
        return self.group_item(item_id)

    def group_item(self, item_id: str) -> GroupItem | None:
        row = self._db.one("SELECT * FROM group_items WHERE item_id = ?", (item_id,))
        return None if row is None else _group_item(row)

    def mark_group_read(self, item: GroupItem, user_id: str, device_id: int) -> int:
        """Record the read (once per device) and return the number of reads."""
        self._db.execute(
            "INSERT OR IGNORE INTO group_reads (group_seq, user_uuid, device_id, read_ms)"
            " VALUES (?, ?, ?, ?)",
            (item.seq, user_id, device_id, self._now_ms()),
        )
        return int(
            self._db.scalar("SELECT COUNT(*) FROM group_reads WHERE group_seq = ?", (item.seq,))
        )

    def readers(self, item: GroupItem) -> set[str]:
        rows = self._db.all(
            "SELECT DISTINCT user_uuid FROM group_reads WHERE group_seq = ?", (item.seq,)
        )
        return {r["user_uuid"] for r in rows}

    def delete_group_item(self, item: GroupItem) -> None:
        with self._db.transaction():
            self._db.execute("DELETE FROM group_reads WHERE group_seq = ?", (item.seq,))
            self._db.execute("DELETE FROM group_items WHERE seq = ?", (item.seq,))

    def group_history(self, channel_id: str, since_ms: int | None, limit: int) -> list[GroupItem]:
        rows = self._db.all(
            "SELECT * FROM group_items WHERE channel_id = ? AND created_ms > ?"
            " ORDER BY created_ms, seq LIMIT ?",
            (channel_id, -1 if since_ms is None else since_ms, limit),
        )
        return [_group_item(r) for r in rows]

    # --------------------------------------------------------------- pending

    def pending(
        self, user_id: str, device_id: int, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of the merged pending list, oldest first, and whether more follow."""
        want = offset + limit + 1
        direct = self._db.all(
            "SELECT * FROM items WHERE recipient = ? AND recipient_device = ?"
            " ORDER BY created_ms, seq LIMIT ?",
            (user_id, device_id, want),
        )
        group = self._db.all(
            "SELECT g.* FROM group_items g JOIN channel_members m"
            " ON m.channel_id = g.channel_id AND m.user_uuid = ?"
            " WHERE NOT EXISTS (SELECT 1 FROM group_reads r WHERE r.group_seq = g.seq"
            " AND r.user_uuid = ? AND r.device_id = ?)"
            " ORDER BY g.created_ms, g.seq LIMIT ?",
            (user_id, user_id, device_id, want),
        )
        merged: Iterator[tuple[int, int, int, dict[str, Any]]] = heapq.merge(
            ((int(r["created_ms"]), 0, int(r["seq"]), self._pending_direct(r)) for r in direct),
            (
                (int(r["created_ms"]), 1, int(r["seq"]), self._pending_group(r, user_id))
                for r in group
            ),
            key=lambda entry: entry[:3],
        )
        page = [entry[3] for entry in merged][offset:]
        return page[:limit], len(page) > limit

    @staticmethod
    def _pending_direct(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "sender": row["sender"],
            "senderDeviceId": int(row["sender_device"]),
            "recipient": row["recipient"],
            "type": row["type"],
            "payload": row["payload"],
            "cipherType": int(row["cipher_type"]),
            "itemId": row["item_id"],
            "originalRecipient": row["original_recipient"],
            "timestamp": iso(int(row["created_ms"])),
        }

    @staticmethod
    def _pending_group(row: sqlite3.Row, user_id: str) -> dict[str, Any]:
        return {
            "sender": row["sender"],
            "senderDeviceId": int(row["sender_device"]),
            "recipient": user_id,
            "type": row["type"],
            "payload": row["payload"],
            "cipherType": int(row["cipher_type"]),
            "itemId": row["item_id"],
            "originalRecipient": None,
            "timestamp": row["timestamp"],
            "channel": row["channel_id"],
            "channelId": row["channel_id"],
        }

    # ----------------------------------------------------------------- purge

    def purge(self, before_ms: int) -> int:
        """Delete 1:1 and group items stored before ``before_ms``; returns the count."""
        with self._db.transaction():
            direct = self._db.execute("DELETE FROM items WHERE created_ms < ?", (before_ms,))
            self._db.execute(
                "DELETE FROM group_reads WHERE group_seq IN"
                " (SELECT seq FROM group_items WHERE created_ms < ?)",
                (before_ms,),
            )
            group = self._db.execute("DELETE FROM group_items WHERE created_ms < ?", (before_ms,))
        return direct.rowcount + group.rowcount

"""The outbox and the bundle cache, over a store connection (a part of ``History``).

The outbox is two tables: ``outgoing`` (logical items in the order written: user
messages, whose text is in ``messages``, and control items such as read receipts)
and ``outgoing_copies`` (one kept ciphertext per target device, so a resend reuses
the same bytes). Synchronous: runs in the account's store thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

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


class OutboxTables:
    """Mixed into ``History``; ``conn`` is the store connection."""

    conn: Any

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

    def prune_outbox(self, before_ms: int) -> int:
        """Finished outbox items (and their ciphertexts) are no longer needed; the
        messages themselves stay in history."""
        self.conn.execute(
            "DELETE FROM outgoing_copies WHERE item_id IN (SELECT item_id FROM outgoing"
            " WHERE state = ? AND created_at < ?)",
            (DONE, before_ms),
        )
        return int(
            self.conn.execute(
                "DELETE FROM outgoing WHERE state = ? AND created_at < ?", (DONE, before_ms)
            ).rowcount
        )

    def has_open_outgoing(self) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM outgoing WHERE state IN (?, ?) LIMIT 1", (QUEUED, SENT)
        ).fetchone()
        return row is not None

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

    def forget_all_bundles(self) -> None:
        self.conn.execute("DELETE FROM bundle_cache")

"""The group tables of one store (schema version 3), over a store connection.

Synchronous: every method runs in the account's store thread (``DeviceStore.run``),
usually inside the caller's transaction. Rows become small dataclasses here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from peerwave_tui.models import Channel, ConversationKind, Direction

# group_outbox states (the same words as the 1:1 outbox)
QUEUED = "queued"  # written, not yet encrypted
SENT = "sent"  # encrypted and emitted; waiting for groupItemDelivered
DONE = "done"  # the server stored it
FAILED = "failed"  # gave up; the user may retry

# What we know locally about a group item seen before (see ``item_state``).
SEEN = "seen"  # shown and read by the user: mark it read on the server
UNSEEN = "unseen"  # shown, not read yet: it stays in our pending list
HELD = "held"  # waiting for its sender key
GONE = "gone"  # dropped (ours, too old, plaintext): mark it read on the server

_CHANNEL_COLUMNS = (
    "channel_id, name, description, private, owner, joined_at, left_at, member_count,"
    " history_synced_at"
)


@dataclass(frozen=True)
class ChannelRow:
    channel_id: str
    name: str | None
    description: str
    private: bool
    owner: str | None
    joined_at: int
    left_at: int | None
    member_count: int | None
    history_synced_at: int | None

    def to_channel(self) -> Channel:
        return Channel(
            channel_id=self.channel_id,
            name=self.name or self.channel_id,
            description=self.description,
            private=self.private,
            owner=self.owner,
            member_count=self.member_count,
            member=self.left_at is None,
        )


@dataclass(frozen=True)
class HeldItem:
    sender: str
    sender_device: int
    item_id: str
    channel_id: str
    type: str
    payload: str
    sent_at: int
    held_at: int


@dataclass(frozen=True)
class GroupOutgoing:
    seq: int
    item_id: str
    channel_id: str
    message_id: int | None
    payload: str | None
    generation: int | None
    state: str
    created_at: int
    own_read: bool


def _channel(row: Any) -> ChannelRow:
    return ChannelRow(
        channel_id=row[0],
        name=row[1],
        description=row[2] or "",
        private=bool(row[3]),
        owner=row[4],
        joined_at=int(row[5]),
        left_at=row[6],
        member_count=row[7],
        history_synced_at=row[8],
    )


def _held(row: Any) -> HeldItem:
    return HeldItem(row[0], int(row[1]), row[2], row[3], row[4], row[5], int(row[6]), int(row[7]))


def _outgoing(row: Any) -> GroupOutgoing:
    return GroupOutgoing(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], int(row[7]), bool(row[8])
    )


class GroupTables:
    """Construct per call, inside the store thread."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    # --- channels ------------------------------------------------------------------

    def channel(self, channel_id: str) -> ChannelRow | None:
        row = self.conn.execute(
            f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE channel_id = ?", (channel_id,)
        ).fetchone()
        return _channel(row) if row else None

    def channels(self, *, include_left: bool = False) -> list[ChannelRow]:
        where = "" if include_left else " WHERE left_at IS NULL"
        rows = self.conn.execute(
            f"SELECT {_CHANNEL_COLUMNS} FROM channels{where} ORDER BY name, channel_id"
        ).fetchall()
        return [_channel(r) for r in rows]

    def upsert_channel(self, channel: Channel, joined_at: int, *, rejoined: bool = False) -> None:
        """Record a channel we belong to. ``joined_at`` is used for a channel new to us
        (or one we had left, when ``rejoined``); a known one keeps its own."""
        self.conn.execute(
            "INSERT INTO channels (channel_id, name, description, private, owner, joined_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(channel_id) DO UPDATE SET"
            " name = excluded.name, description = excluded.description,"
            " private = excluded.private, owner = COALESCE(excluded.owner, channels.owner)",
            (
                channel.channel_id,
                channel.name,
                channel.description,
                int(channel.private),
                channel.owner,
                joined_at,
            ),
        )
        if rejoined:
            self.conn.execute(
                "UPDATE channels SET joined_at = ?, left_at = NULL"
                " WHERE channel_id = ? AND left_at IS NOT NULL",
                (joined_at, channel.channel_id),
            )
        self._conversation(channel.channel_id, channel.name)

    def ensure_placeholder(self, channel_id: str, joined_at: int) -> bool:
        """A group item named a channel we do not know: keep a nameless row until the
        channel list tells us more. True when the row is new."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO channels (channel_id, joined_at) VALUES (?, ?)",
            (channel_id, joined_at),
        )
        self._conversation(channel_id, None)
        return bool(cur.rowcount)

    def _conversation(self, channel_id: str, title: str | None) -> None:
        self.conn.execute(
            "INSERT INTO conversations (conversation_id, kind, title) VALUES (?, ?, ?)"
            " ON CONFLICT(conversation_id) DO UPDATE SET"
            " title = COALESCE(excluded.title, conversations.title)",
            (channel_id, ConversationKind.GROUP.value, title),
        )

    def set_joined(self, channel_id: str, joined_at: int) -> None:
        self.conn.execute(
            "UPDATE channels SET joined_at = ?, left_at = NULL WHERE channel_id = ?",
            (joined_at, channel_id),
        )
        self.conn.execute(
            "UPDATE conversations SET joined_at = ? WHERE conversation_id = ?",
            (joined_at, channel_id),
        )

    def set_left(self, channel_id: str, now_ms: int) -> bool:
        """We are no longer a member; True when that is news. Membership and our sender
        key state go; the history stays."""
        cur = self.conn.execute(
            "UPDATE channels SET left_at = ?, member_count = NULL"
            " WHERE channel_id = ? AND left_at IS NULL",
            (now_ms, channel_id),
        )
        self.conn.execute("DELETE FROM channel_devices WHERE channel_id = ?", (channel_id,))
        self.conn.execute("DELETE FROM own_sender_keys WHERE channel_id = ?", (channel_id,))
        self.conn.execute(
            "UPDATE conversations SET member_count = NULL WHERE conversation_id = ?",
            (channel_id,),
        )
        return bool(cur.rowcount)

    def set_member_count(self, channel_id: str, count: int) -> bool:
        """True when the count changed."""
        cur = self.conn.execute(
            "UPDATE channels SET member_count = ? WHERE channel_id = ? AND member_count IS NOT ?",
            (count, channel_id, count),
        )
        self.conn.execute(
            "UPDATE conversations SET member_count = ? WHERE conversation_id = ?",
            (count, channel_id),
        )
        return bool(cur.rowcount)

    def set_history_synced(self, channel_id: str, now_ms: int) -> None:
        self.conn.execute(
            "UPDATE channels SET history_synced_at = ? WHERE channel_id = ?", (now_ms, channel_id)
        )

    # --- member devices and who has our sender key ----------------------------------

    def devices(self, channel_id: str) -> dict[tuple[str, int], bool]:
        rows = self.conn.execute(
            "SELECT user_id, device_id, has_key FROM channel_devices WHERE channel_id = ?",
            (channel_id,),
        ).fetchall()
        return {(r[0], int(r[1])): bool(r[2]) for r in rows}

    def replace_devices(
        self, channel_id: str, devices: Iterable[tuple[str, int]], *, keep_keys: bool
    ) -> None:
        """The member devices now; with ``keep_keys`` the devices seen before keep their
        "has our key" mark (without: our key was rotated, nobody has the new one)."""
        known = self.devices(channel_id) if keep_keys else {}
        self.conn.execute("DELETE FROM channel_devices WHERE channel_id = ?", (channel_id,))
        self.conn.executemany(
            "INSERT OR IGNORE INTO channel_devices (channel_id, user_id, device_id, has_key)"
            " VALUES (?, ?, ?, ?)",
            [(channel_id, u, d, int(known.get((u, d), False))) for u, d in devices],
        )

    def mark_has_key(self, channel_id: str, user_id: str, device_id: int) -> None:
        self.conn.execute(
            "UPDATE channel_devices SET has_key = 1"
            " WHERE channel_id = ? AND user_id = ? AND device_id = ?",
            (channel_id, user_id, device_id),
        )

    def forget_holder(self, user_id: str, device_id: int) -> list[str]:
        """The device lost every sender key of ours (a new install at the same device
        id); the channels where it had our current one."""
        rows = self.conn.execute(
            "SELECT channel_id FROM channel_devices WHERE user_id = ? AND device_id = ?"
            " AND has_key = 1 ORDER BY channel_id",
            (user_id, device_id),
        ).fetchall()
        self.conn.execute(
            "UPDATE channel_devices SET has_key = 0 WHERE user_id = ? AND device_id = ?",
            (user_id, device_id),
        )
        return [r[0] for r in rows]

    def lacking(self, channel_id: str, user_id: str | None = None) -> list[tuple[str, int]]:
        sql = "SELECT user_id, device_id FROM channel_devices WHERE channel_id = ? AND has_key = 0"
        params: tuple[Any, ...] = (channel_id,)
        if user_id is not None:
            sql += " AND user_id = ?"
            params += (user_id,)
        return [(r[0], int(r[1])) for r in self.conn.execute(sql + " ORDER BY 1, 2", params)]

    def channels_lacking(self, user_id: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT channel_id FROM channel_devices WHERE user_id = ? AND has_key = 0",
            (user_id,),
        ).fetchall()
        return [r[0] for r in rows]

    # --- our own sender key ----------------------------------------------------------

    def own_key(self, channel_id: str) -> tuple[int, int] | None:
        """(generation, messages sent under it), or None before our first key."""
        row = self.conn.execute(
            "SELECT generation, sent FROM own_sender_keys WHERE channel_id = ?", (channel_id,)
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def new_own_key(self, channel_id: str, now_ms: int) -> int:
        """A new key was made (first or rotated): returns its generation."""
        current = self.own_key(channel_id)
        generation = current[0] + 1 if current else 1
        self.conn.execute(
            "INSERT OR REPLACE INTO own_sender_keys (channel_id, generation, sent, created_at)"
            " VALUES (?, ?, 0, ?)",
            (channel_id, generation, now_ms),
        )
        return generation

    def count_sent(self, channel_id: str) -> None:
        self.conn.execute(
            "UPDATE own_sender_keys SET sent = sent + 1 WHERE channel_id = ?", (channel_id,)
        )

    # --- held items ------------------------------------------------------------------

    def hold(self, item: HeldItem) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO group_held (sender, sender_device, item_id, channel_id, type,"
            " payload, sent_at, held_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item.sender,
                item.sender_device,
                item.item_id,
                item.channel_id,
                item.type,
                item.payload,
                item.sent_at,
                item.held_at,
            ),
        )

    def held_count(self, channel_id: str, sender: str, sender_device: int) -> int:
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM group_held WHERE channel_id = ? AND sender = ?"
                " AND sender_device = ?",
                (channel_id, sender, sender_device),
            ).fetchone()[0]
        )

    def held_from(self, channel_id: str, sender: str, sender_device: int) -> list[HeldItem]:
        rows = self.conn.execute(
            "SELECT sender, sender_device, item_id, channel_id, type, payload, sent_at, held_at"
            " FROM group_held WHERE channel_id = ? AND sender = ? AND sender_device = ?"
            " ORDER BY sent_at, item_id",
            (channel_id, sender, sender_device),
        ).fetchall()
        return [_held(r) for r in rows]

    def held_before(self, held_before_ms: int) -> list[HeldItem]:
        rows = self.conn.execute(
            "SELECT sender, sender_device, item_id, channel_id, type, payload, sent_at, held_at"
            " FROM group_held WHERE held_at < ? ORDER BY sent_at, item_id",
            (held_before_ms,),
        ).fetchall()
        return [_held(r) for r in rows]

    def unhold(self, item: HeldItem) -> None:
        self.conn.execute(
            "DELETE FROM group_held WHERE sender = ? AND sender_device = ? AND item_id = ?",
            (item.sender, item.sender_device, item.item_id),
        )

    def item_state(self, sender: str, sender_device: int, item_id: str) -> str:
        """What became of a group item processed before (for the pending drain)."""
        row = self.conn.execute(
            "SELECT seen, direction FROM messages WHERE sender = ? AND sender_device = ?"
            " AND item_id = ?",
            (sender, sender_device, item_id),
        ).fetchone()
        if row is not None:
            return SEEN if row[0] or row[1] == Direction.OUT.value else UNSEEN
        held = self.conn.execute(
            "SELECT 1 FROM group_held WHERE sender = ? AND sender_device = ? AND item_id = ?",
            (sender, sender_device, item_id),
        ).fetchone()
        return HELD if held else GONE

    # --- marking group items read on the server --------------------------------------

    def take_seen_unmarked(self, channel_id: str) -> list[str]:
        """Incoming group items the user has seen that were not marked read on the
        server yet; they count as marked from now on (a lost mark heals itself: the
        item comes again in the pending list and is marked then)."""
        rows = self.conn.execute(
            "SELECT id, item_id FROM messages WHERE conversation_id = ? AND direction = ?"
            " AND seen = 1 AND read_receipt = 0",
            (channel_id, Direction.IN.value),
        ).fetchall()
        self.conn.executemany(
            "UPDATE messages SET read_receipt = 1 WHERE id = ?", [(r[0],) for r in rows]
        )
        return [r[1] for r in rows]

    # --- the group outbox --------------------------------------------------------------

    def enqueue(self, item_id: str, channel_id: str, message_id: int, now_ms: int) -> None:
        self.conn.execute(
            "INSERT INTO group_outbox (item_id, channel_id, message_id, state, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (item_id, channel_id, message_id, QUEUED, now_ms),
        )

    _OUT_COLUMNS = (
        "seq, item_id, channel_id, message_id, payload, generation, state, created_at, own_read"
    )

    def open_outgoing(self) -> list[GroupOutgoing]:
        rows = self.conn.execute(
            f"SELECT {self._OUT_COLUMNS} FROM group_outbox WHERE state IN (?, ?) ORDER BY seq",
            (QUEUED, SENT),
        ).fetchall()
        return [_outgoing(r) for r in rows]

    def outgoing(self, item_id: str) -> GroupOutgoing | None:
        row = self.conn.execute(
            f"SELECT {self._OUT_COLUMNS} FROM group_outbox WHERE item_id = ?", (item_id,)
        ).fetchone()
        return _outgoing(row) if row else None

    def set_payload(self, item_id: str, payload: str, generation: int) -> None:
        self.conn.execute(
            "UPDATE group_outbox SET payload = ?, generation = ?, state = ? WHERE item_id = ?",
            (payload, generation, SENT, item_id),
        )

    def set_state(self, item_id: str, state: str, detail: str | None = None) -> None:
        self.conn.execute(
            "UPDATE group_outbox SET state = ?, detail = ? WHERE item_id = ?",
            (state, detail, item_id),
        )

    def requeue(self, item_id: str) -> bool:
        cur = self.conn.execute(
            "UPDATE group_outbox SET state = ?, payload = NULL, generation = NULL, detail = NULL"
            " WHERE item_id = ? AND state = ?",
            (QUEUED, item_id, FAILED),
        )
        return bool(cur.rowcount)

    def unconfirmed(self) -> list[GroupOutgoing]:
        rows = self.conn.execute(
            f"SELECT {self._OUT_COLUMNS} FROM group_outbox WHERE state = ? ORDER BY seq", (SENT,)
        ).fetchall()
        return [_outgoing(r) for r in rows]

    def fail_channel(self, channel_id: str, detail: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT item_id FROM group_outbox WHERE channel_id = ? AND state IN (?, ?)",
            (channel_id, QUEUED, SENT),
        ).fetchall()
        for (item_id,) in rows:
            self.set_state(item_id, FAILED, detail)
        return [r[0] for r in rows]

    def take_own_read(self, item_id: str) -> bool:
        """True the first time: our own item is marked read on the server once."""
        cur = self.conn.execute(
            "UPDATE group_outbox SET own_read = 1 WHERE item_id = ? AND own_read = 0", (item_id,)
        )
        return bool(cur.rowcount)

    def prune_outbox(self, before_ms: int) -> int:
        return int(
            self.conn.execute(
                "DELETE FROM group_outbox WHERE state = ? AND created_at < ?", (DONE, before_ms)
            ).rowcount
        )

    # --- who read our items ----------------------------------------------------------

    def add_reader(self, item_id: str, reader: str) -> int:
        """Record a reader; returns how many distinct readers the item has."""
        self.conn.execute(
            "INSERT OR IGNORE INTO group_readers (item_id, reader) VALUES (?, ?)",
            (item_id, reader),
        )
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM group_readers WHERE item_id = ?", (item_id,)
            ).fetchone()[0]
        )

"""Channels and their members (protocol.md section 6.1)."""

from __future__ import annotations

import sqlite3
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from peerwave_tui.devserver.db import Database
from peerwave_tui.devserver.util import iso


@dataclass(frozen=True)
class Channel:
    uuid: str
    name: str
    description: str
    owner: str
    private: bool
    type: str
    default_role_id: str | None
    created_ms: int
    updated_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "name": self.name,
            "description": self.description,
            "owner": self.owner,
            "private": self.private,
            "type": self.type,
            "defaultRoleId": self.default_role_id,
            "createdAt": iso(self.created_ms),
            "updatedAt": iso(self.updated_ms),
        }


def _channel(row: sqlite3.Row) -> Channel:
    return Channel(
        uuid=row["uuid"],
        name=row["name"],
        description=row["description"],
        owner=row["owner"],
        private=bool(row["private"]),
        type=row["type"],
        default_role_id=row["default_role_id"],
        created_ms=int(row["created_ms"]),
        updated_ms=int(row["updated_ms"]),
    )


class Channels:
    def __init__(self, db: Database, now_ms: Callable[[], int]) -> None:
        self._db = db
        self._now_ms = now_ms

    def create(
        self,
        owner: str,
        name: str,
        description: str,
        private: bool,
        channel_type: str,
        default_role_id: str | None,
    ) -> Channel:
        channel_id = str(uuidlib.uuid4())
        now = self._now_ms()
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO channels (uuid, name, description, owner, private, type,"
                " default_role_id, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    channel_id,
                    name,
                    description,
                    owner,
                    int(private),
                    channel_type,
                    default_role_id,
                    now,
                    now,
                ),
            )
            self.add_member(channel_id, owner)
        channel = self.get(channel_id)
        assert channel is not None
        return channel

    def get(self, channel_id: str) -> Channel | None:
        row = self._db.one("SELECT * FROM channels WHERE uuid = ?", (channel_id,))
        return None if row is None else _channel(row)

    def is_member(self, channel_id: str, user_id: str) -> bool:
        row = self._db.one(
            "SELECT 1 FROM channel_members WHERE channel_id = ? AND user_uuid = ?",
            (channel_id, user_id),
        )
        return row is not None

    def add_member(self, channel_id: str, user_id: str) -> bool:
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO channel_members (channel_id, user_uuid, joined_ms)"
            " VALUES (?, ?, ?)",
            (channel_id, user_id, self._now_ms()),
        )
        return cursor.rowcount == 1

    def remove_member(self, channel_id: str, user_id: str) -> bool:
        cursor = self._db.execute(
            "DELETE FROM channel_members WHERE channel_id = ? AND user_uuid = ?",
            (channel_id, user_id),
        )
        return cursor.rowcount == 1

    def members(self, channel_id: str) -> list[str]:
        rows = self._db.all(
            "SELECT user_uuid FROM channel_members WHERE channel_id = ? ORDER BY joined_ms, rowid",
            (channel_id,),
        )
        return [r["user_uuid"] for r in rows]

    def member_count(self, channel_id: str) -> int:
        return int(
            self._db.scalar(
                "SELECT COUNT(*) FROM channel_members WHERE channel_id = ?", (channel_id,)
            )
        )

    def channels_of(self, user_id: str, channel_type: str | None, limit: int) -> list[Channel]:
        rows = self._db.all(
            "SELECT c.* FROM channels c JOIN channel_members m ON m.channel_id = c.uuid"
            " WHERE m.user_uuid = ? AND (? IS NULL OR c.type = ?)"
            " ORDER BY c.created_ms, c.rowid LIMIT ?",
            (user_id, channel_type, channel_type, limit),
        )
        return [_channel(r) for r in rows]

    def discover(self, user_id: str, limit: int, offset: int) -> tuple[list[Channel], int]:
        """Public channels the caller has not joined, oldest first, and their total."""
        where = (
            " FROM channels c WHERE c.private = 0 AND NOT EXISTS (SELECT 1 FROM"
            " channel_members m WHERE m.channel_id = c.uuid AND m.user_uuid = ?)"
        )
        total = int(self._db.scalar("SELECT COUNT(*)" + where, (user_id,)))
        rows = self._db.all(
            "SELECT c.*" + where + " ORDER BY c.created_ms, c.rowid LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
        return [_channel(r) for r in rows], total

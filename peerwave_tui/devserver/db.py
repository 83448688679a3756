"""The dev server's state: one SQLite file, its schema created complete on first start.

SQLite runs on the event loop directly: the dev server is small, every query is
indexed, and one connection on one thread keeps transactions simple and ordered.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
DB_FILE_NAME = "devserver.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    uuid TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    verified INTEGER NOT NULL DEFAULT 0,
    display_name TEXT UNIQUE,
    at_name TEXT,
    picture TEXT,
    backup_codes_issued INTEGER NOT NULL DEFAULT 0,
    native_login INTEGER NOT NULL DEFAULT 0,
    last_seen_ms INTEGER,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS backup_codes (
    user_uuid TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_uuid, code_hash)
);
CREATE TABLE IF NOT EXISTS clients (
    clientid TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    device_info TEXT,
    created_ms INTEGER NOT NULL,
    UNIQUE (owner, device_id)
);
CREATE TABLE IF NOT EXISTS sessions (
    client_id TEXT PRIMARY KEY,
    user_uuid TEXT NOT NULL,
    secret TEXT NOT NULL,
    refresh_token_hash TEXT,
    device_info TEXT,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS identities (
    client_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    public_key TEXT NOT NULL,
    registration_id TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS signed_prekeys (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    prekey_id INTEGER NOT NULL,
    data TEXT NOT NULL,
    signature TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    UNIQUE (client_id, prekey_id)
);
CREATE TABLE IF NOT EXISTS prekeys (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    prekey_id INTEGER NOT NULL,
    data TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    UNIQUE (client_id, prekey_id)
);
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    sender_device INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    recipient_device INTEGER NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    cipher_type INTEGER NOT NULL,
    original_recipient TEXT,
    created_ms INTEGER NOT NULL,
    delivered_ms INTEGER
);
CREATE INDEX IF NOT EXISTS items_by_device ON items (recipient, recipient_device, created_ms, seq);
CREATE INDEX IF NOT EXISTS items_by_item ON items (recipient, recipient_device, item_id);
CREATE INDEX IF NOT EXISTS items_by_time ON items (created_ms);
CREATE TABLE IF NOT EXISTS channels (
    uuid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    owner TEXT NOT NULL,
    private INTEGER NOT NULL,
    type TEXT NOT NULL,
    default_role_id TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS channel_members (
    channel_id TEXT NOT NULL,
    user_uuid TEXT NOT NULL,
    joined_ms INTEGER NOT NULL,
    PRIMARY KEY (channel_id, user_uuid)
);
CREATE INDEX IF NOT EXISTS members_by_user ON channel_members (user_uuid);
CREATE TABLE IF NOT EXISTS group_items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL UNIQUE,
    channel_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    sender_device INTEGER NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    cipher_type INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS group_items_by_channel ON group_items (channel_id, created_ms, seq);
CREATE INDEX IF NOT EXISTS group_items_by_time ON group_items (created_ms);
CREATE TABLE IF NOT EXISTS group_reads (
    group_seq INTEGER NOT NULL,
    user_uuid TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    read_ms INTEGER NOT NULL,
    PRIMARY KEY (group_seq, user_uuid, device_id)
);
"""


class Database:
    """One SQLite connection in autocommit mode; :meth:`transaction` groups writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA foreign_keys = OFF")
        self._depth = 0
        self._create_schema()

    def _create_schema(self) -> None:
        self._conn.executescript(SCHEMA)
        self.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction; nested uses join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> sqlite3.Cursor:
        return self._conn.executemany(sql, rows)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def meta(self, key: str) -> str | None:
        value = self.scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

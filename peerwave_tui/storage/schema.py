"""The device store's schema: numbered migrations, applied in order, in code.

``PRAGMA user_version`` holds the schema version. A store written by a newer
peerwave-tui (a higher version than ``SCHEMA_VERSION``) is refused rather than
guessed at. Every migration runs inside one transaction with the version bump.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from peerwave_tui.errors import StoreError
from peerwave_tui.storage.tx import transaction

Migration = Callable[[Any], None]

# --- version 1: local identity, account secrets, the five Signal stores ------------

_V1 = """
-- Small named values: account secrets (session secret, refresh token, backup codes),
-- counters (next prekey id), timestamps of key rotation. Values are bytes or text.
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- This device's Signal identity (exactly one row).
CREATE TABLE local_identity (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    registration_id   INTEGER NOT NULL,
    identity_key_pair BLOB NOT NULL,
    created_at        INTEGER NOT NULL
);

-- Peer identity keys, one row per device address ("{userId}.{deviceId}").
-- public_key is the trusted key; pending_key a changed key waiting for acceptance.
CREATE TABLE identities (
    address     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    device_id   INTEGER NOT NULL,
    public_key  BLOB NOT NULL,
    pending_key BLOB,
    verified    INTEGER NOT NULL DEFAULT 0,
    first_seen  INTEGER NOT NULL,
    changed_at  INTEGER
);
CREATE INDEX identities_user ON identities (user_id);

-- One-time prekeys. Ids come from a counter in kv and never repeat. Kept until the
-- server confirms it has them (uploaded_at), then until used plus 7 days: the PeerWave
-- server can hand one prekey to two senders.
CREATE TABLE prekeys (
    id          INTEGER PRIMARY KEY,
    record      BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    uploaded_at INTEGER,         -- NULL until an upload was confirmed
    used_at     INTEGER          -- set when a PreKey message used it; deleted 7 days later
);

CREATE TABLE signed_prekeys (
    id          INTEGER PRIMARY KEY,
    record      BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    uploaded_at INTEGER,         -- NULL until an upload was confirmed
    retired_at  INTEGER          -- replaced by a newer one; deleted 30 days later
);

-- Serialized SessionRecords, one per device address.
CREATE TABLE sessions (
    address   TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    record    BLOB NOT NULL,
    PRIMARY KEY (address, device_id)
);

-- Serialized SenderKeyRecords per (group, sender device). For our own sender key
-- (address "self.0") distribution holds the original SenderKeyDistributionMessage,
-- which late members get so they can read from the key's first message on.
CREATE TABLE sender_keys (
    group_id     TEXT NOT NULL,
    address      TEXT NOT NULL,
    device_id    INTEGER NOT NULL,
    record       BLOB NOT NULL,
    distribution BLOB,
    PRIMARY KEY (group_id, address, device_id)
);
"""


def _v1(conn: Any) -> None:
    _run_script(conn, _V1)


def _run_script(conn: Any, script: str) -> None:
    """Run DDL statements one by one (``executescript`` would commit our transaction)."""
    code = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    for statement in code.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v2(conn: Any) -> None:
    from peerwave_tui.storage.history_schema import V2

    _run_script(conn, V2)


def _v3(conn: Any) -> None:
    from peerwave_tui.storage.history_schema import V3

    _run_script(conn, V3)


def _v4(conn: Any) -> None:
    from peerwave_tui.storage.history_schema import V4

    _run_script(conn, V4)


# Append new migrations here; never edit one that has shipped.
MIGRATIONS: list[Migration] = [_v1, _v2, _v3, _v4]
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: Any) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: Any) -> int:
    """Bring the database to ``SCHEMA_VERSION``; return the version found before."""
    found = current_version(conn)
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"This store was written by a newer peerwave-tui (schema {found}, this version "
            f"knows {SCHEMA_VERSION}); upgrade peerwave-tui to open it."
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        with transaction(conn):
            MIGRATIONS[version - 1](conn)
            conn.execute(f"PRAGMA user_version = {version}")
    return found

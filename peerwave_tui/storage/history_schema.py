"""Schema version 2: contacts, conversations, message history, outbox, dedupe ledger.

Kept apart from the Signal tables of version 1 because the two evolve separately.
"""

from __future__ import annotations

V2 = """
-- People we know on this server (names live only in the encrypted store).
CREATE TABLE contacts (
    user_id      TEXT PRIMARY KEY,
    display_name TEXT,
    at_name      TEXT,
    email        TEXT,
    online       INTEGER NOT NULL DEFAULT 0,
    last_seen    INTEGER,
    updated_at   INTEGER NOT NULL
);

-- One row per 1:1 partner (conversation_id = their userId) or channel (its uuid).
CREATE TABLE conversations (
    conversation_id TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    title           TEXT,
    last_activity   INTEGER,
    unread          INTEGER NOT NULL DEFAULT 0,
    mentions        INTEGER NOT NULL DEFAULT 0,
    joined_at       INTEGER,
    member_count    INTEGER
);

-- History. Our own messages are the outbox: status 'pending' until stored.
-- (sender, sender_device, item_id) is the receiver-side dedupe key.
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    item_id         TEXT NOT NULL,
    sender          TEXT NOT NULL,
    sender_device   INTEGER NOT NULL,
    direction       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    body            TEXT NOT NULL,
    detail          TEXT,
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    seen            INTEGER NOT NULL DEFAULT 0,
    read_receipt    INTEGER NOT NULL DEFAULT 0,
    reported        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (sender, sender_device, item_id)
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
CREATE INDEX messages_by_item ON messages (item_id);
CREATE INDEX messages_unreported ON messages (reported, id);
CREATE INDEX messages_by_status ON messages (status, id);

-- Every item we ever processed, displayable or not (receipts, key distributions),
-- so a re-delivered item is never decrypted twice.
CREATE TABLE processed_items (
    sender        TEXT NOT NULL,
    sender_device INTEGER NOT NULL,
    item_id       TEXT NOT NULL,
    processed_at  INTEGER NOT NULL,
    PRIMARY KEY (sender, sender_device, item_id)
);

-- Outgoing logical items (messages and control items such as read receipts), in the
-- order written. plaintext is NULL for user messages (their text is messages.body).
CREATE TABLE outgoing (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id      TEXT NOT NULL UNIQUE,
    peer         TEXT NOT NULL,
    type         TEXT NOT NULL,
    message_id   INTEGER,
    plaintext    BLOB,
    state        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    detail       TEXT
);
CREATE INDEX outgoing_by_state ON outgoing (state, seq);

-- One ciphertext per target device, kept so a resend reuses the same bytes.
CREATE TABLE outgoing_copies (
    item_id          TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    recipient_device INTEGER NOT NULL,
    cipher_type      INTEGER NOT NULL,
    payload          TEXT NOT NULL,
    stored           INTEGER NOT NULL DEFAULT 0,
    last_sent        INTEGER,
    PRIMARY KEY (item_id, recipient, recipient_device)
);

-- Cached prekey-bundle device lists per peer (fetching one uses up prekeys).
CREATE TABLE bundle_cache (
    user_id    TEXT PRIMARY KEY,
    devices    TEXT NOT NULL,
    fetched_at INTEGER NOT NULL
);
"""

"""Schema version 2: contacts, conversations, message history, outbox, dedupe ledger;
version 3: signal channels (membership, sender-key distribution, held items, group outbox);
version 4: drops an unused index.

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

# Schema version 3: signal channels (groups with sender keys).
V3 = """
-- The signal channels this account belongs to (or left: left_at set). joined_at is
-- local (server-clock estimate) ms: group items older than it are dropped quietly.
CREATE TABLE channels (
    channel_id       TEXT PRIMARY KEY,
    name             TEXT,
    description      TEXT NOT NULL DEFAULT '',
    private          INTEGER NOT NULL DEFAULT 0,
    owner            TEXT,
    joined_at        INTEGER NOT NULL,
    left_at          INTEGER,
    member_count     INTEGER,
    history_synced_at INTEGER
);

-- Member devices as last seen in GET /channels/{id}/member-devices, and whether each
-- has our current sender key (reset when we rotate it).
CREATE TABLE channel_devices (
    channel_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    device_id  INTEGER NOT NULL,
    has_key    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, user_id, device_id)
);

-- Our own sender key per channel: its generation (bumped on every rotation) and how
-- many messages went out under it (a late device given the original distribution
-- can read at most 2000 messages past it, so the key is rotated well before that).
-- The key and its original distribution message live in sender_keys (version 1).
CREATE TABLE own_sender_keys (
    channel_id TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    sent       INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

-- Group items whose sender key we lack: the ciphertext waits here for the key (tried
-- again after every distribution from that device); after 24 h it is shown as
-- undecryptable.
CREATE TABLE group_held (
    sender        TEXT NOT NULL,
    sender_device INTEGER NOT NULL,
    item_id       TEXT NOT NULL,
    channel_id    TEXT NOT NULL,
    type          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    sent_at       INTEGER NOT NULL,
    held_at       INTEGER NOT NULL,
    PRIMARY KEY (sender, sender_device, item_id)
);
CREATE INDEX group_held_by_sender ON group_held (channel_id, sender, sender_device);

-- Our group messages on their way out, in the order written. payload keeps the
-- SenderKeyMessage (b64) once encrypted, so a resend uses the same bytes; generation
-- says under which of our sender keys.
CREATE TABLE group_outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id    TEXT NOT NULL UNIQUE,
    channel_id TEXT NOT NULL,
    message_id INTEGER,
    payload    TEXT,
    generation INTEGER,
    state      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    detail     TEXT,
    own_read   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX group_outbox_by_state ON group_outbox (state, seq);

-- Members who read our group items (groupItemReadUpdate): "read by N of M".
CREATE TABLE group_readers (
    item_id TEXT NOT NULL,
    reader  TEXT NOT NULL,
    PRIMARY KEY (item_id, reader)
);
"""

# Version 4: no query reads messages by status; the index only cost every insert an
# extra b-tree update (and the commit its pages).
V4 = """
DROP INDEX IF EXISTS messages_by_status;
"""

"""Domain types shared by core and UI.

Payloads are parsed into these at the edge (``api.py``, ``socket.py``) and rows are
converted inside ``storage/``; widgets never see raw payloads or rows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def datetime_to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class KeyMode(enum.StrEnum):
    """How a store's database key is kept."""

    KEYRING = "keyring"
    PASSPHRASE = "passphrase"
    MEMORY = "memory"  # demo only: a throwaway key that never leaves the process


class ConnectionState(enum.StrEnum):
    """What a server tab shows."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    OFFLINE = "offline"  # not reachable now; retrying
    LOCKED = "locked"  # the store needs a passphrase / key
    ERROR = "error"  # stopped: needs the user (auth failure, damaged store, ...)
    CLOSED = "closed"


class MessageStatus(enum.StrEnum):
    """Status of one of our own messages (received messages are ``RECEIVED``)."""

    PENDING = "pending"  # written locally, not yet confirmed stored by the server
    STORED = "stored"  # every copy's deliveryReceipt arrived ("sent")
    READ = "read"  # the peer sent a read receipt
    FAILED = "failed"  # gave up (e.g. identity change, no devices); can be retried
    RECEIVED = "received"


class MessageKind(enum.StrEnum):
    """What a history row holds."""

    TEXT = "message"
    UNDECRYPTABLE = "undecryptable"
    UNSUPPORTED = "unsupported"
    NOTICE = "notice"  # local notices: identity changed, new device, ...


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


class ConversationKind(enum.StrEnum):
    DIRECT = "direct"
    GROUP = "group"


@dataclass(frozen=True)
class ServerMeta:
    """What ``GET /client/meta`` told us (every field may be missing)."""

    url: str
    name: str
    version: str | None = None
    registration_mode: str | None = None


@dataclass
class AccountRecord:
    """One saved server+account (a line of ``servers.toml``; no secrets)."""

    server_url: str
    server_key: str
    client_id: str
    email: str
    user_id: str | None = None
    device_id: int | None = None
    display_name: str | None = None
    server_name: str | None = None
    key_mode: KeyMode = KeyMode.KEYRING

    @property
    def account_id(self) -> str:
        """Stable id of this account inside the app (also the keyring user name)."""
        return f"{self.server_key}/{self.client_id}"


@dataclass
class Contact:
    """A user on one server, as the people list or a profile describes them."""

    user_id: str
    display_name: str
    at_name: str | None = None
    email: str | None = None
    online: bool = False
    last_seen: datetime | None = None


@dataclass
class Conversation:
    """A 1:1 conversation (``peer_id`` is the contact) or a group channel."""

    conversation_id: str  # the peer's userId for 1:1, the channel uuid for groups
    kind: ConversationKind
    title: str
    last_activity: datetime | None = None
    unread: int = 0
    mentions: int = 0
    muted: bool = False
    online: bool = False
    member_count: int | None = None
    identity_blocked: bool = False  # an identity change waits for the user
    last_preview: str | None = None


@dataclass(frozen=True)
class Channel:
    """A signal channel (a group chat with sender keys) on one server."""

    channel_id: str
    name: str
    description: str = ""
    private: bool = False
    owner: str | None = None
    member_count: int | None = None  # None: not counted (yet)
    member: bool = True  # False for channels found by ``discover`` that we are not in


@dataclass(frozen=True)
class ChannelMember:
    user_id: str
    display_name: str | None
    is_owner: bool = False


@dataclass
class ChatMessage:
    """One row of history as the UI shows it."""

    local_id: int  # row id in the store (stable; orders messages of a conversation)
    conversation_id: str
    item_id: str
    sender_id: str
    sender_device: int | None
    direction: Direction
    kind: MessageKind
    text: str
    timestamp: datetime
    status: MessageStatus
    sender_name: str | None = None
    detail: str | None = None  # e.g. the unsupported type, the failure reason


@dataclass
class SafetyNumber:
    """A contact's safety number and how we trust them."""

    contact_id: str
    digits: str  # 60 digits

    verified: bool = False
    changed: bool = False  # an identity change is waiting to be accepted
    devices: list[int] = field(default_factory=list)

    @property
    def groups(self) -> list[str]:
        return [self.digits[i : i + 5] for i in range(0, len(self.digits), 5)]

    def formatted(self) -> str:
        return " ".join(self.groups)

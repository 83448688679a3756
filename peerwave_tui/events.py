"""Events from core to the UI (and to CLI commands that listen).

Every event names the account it belongs to (``account_id``, see
``AccountRecord.account_id``), so one merged stream can carry all servers. The UI's
bridge turns each into a Textual message; nothing else in core knows the UI exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from peerwave_tui.models import (
    AccountRecord,
    ChatMessage,
    ConnectionState,
    Conversation,
    MessageStatus,
)


@dataclass(frozen=True)
class Event:
    account_id: str


@dataclass(frozen=True)
class AccountAdded(Event):
    account: AccountRecord


@dataclass(frozen=True)
class AccountRemoved(Event):
    pass


@dataclass(frozen=True)
class AccountUpdated(Event):
    """Server name, display name or device id learned/changed."""

    account: AccountRecord


# Machine-readable reasons of a ConnectionChanged (``reason``), so the UI can offer
# the way out (the unlock screen, the keyring help) without parsing ``detail``.
REASON_KEYRING_UNAVAILABLE = "keyring_unavailable"  # no secure OS keyring (keyring mode)
REASON_PASSPHRASE_NEEDED = "passphrase_needed"  # none given yet, or a wrong one
REASON_KEY_UNAVAILABLE = "key_unavailable"  # the key is gone (keyring entry, salt file)
REASON_AUTH_FAILED = "auth_failed"  # the server refused the session: log in again
REASON_STORE_IN_USE = "store_in_use"  # another process has the store open
REASON_STORE_DAMAGED = "store_damaged"  # damaged files, or a key that does not open them


@dataclass(frozen=True)
class ConnectionChanged(Event):
    state: ConnectionState
    detail: str | None = None  # user-readable reason (errors, "retrying")
    retry_at: datetime | None = None  # when the next reconnect attempt happens
    reason: str | None = None  # one of the REASON_* values, when known


@dataclass(frozen=True)
class MessageReceived(Event):
    """A message was committed to history (incoming, a sync copy, or a local notice)."""

    message: ChatMessage


@dataclass(frozen=True)
class MessageAdded(Event):
    """One of our own messages was written to history (pending)."""

    message: ChatMessage


@dataclass(frozen=True)
class MessageStatusChanged(Event):
    conversation_id: str
    item_id: str
    status: MessageStatus
    detail: str | None = None


@dataclass(frozen=True)
class ConversationUpdated(Event):
    """A conversation's title, unread count, activity, presence or block state changed."""

    conversation: Conversation


@dataclass(frozen=True)
class PresenceChanged(Event):
    user_id: str
    online: bool
    last_seen: datetime | None = None


@dataclass(frozen=True)
class IdentityChanged(Event):
    """A contact's device presented a new identity key: sending is blocked until accepted."""

    contact_id: str
    device_ids: tuple[int, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class NewDeviceSeen(Event):
    """A contact has a device we had not seen (trusted on first use)."""

    contact_id: str
    device_id: int


@dataclass(frozen=True)
class BacklogProgress(Event):
    """Draining pending messages: ``processed`` so far; ``done`` at the end."""

    processed: int
    done: bool = False


@dataclass(frozen=True)
class KeyGenerationProgress(Event):
    done: bool = False


@dataclass(frozen=True)
class ErrorRaised(Event):
    """A problem the user should see (a toast), already phrased for them."""

    message: str
    needs_user: bool = False

"""What the UI may ask of the client manager: the whole surface, as a Protocol.

The UI never calls a store or a socket; it calls these methods and reacts to the
events from ``events()``. ``SignalClientManager`` (``manager.py``) implements it.
Accounts are named by ``account_id`` (``AccountRecord.account_id``).

Every method raises only ``PeerwaveError`` subclasses, whose text is ready to show.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from peerwave_tui.events import Event
from peerwave_tui.models import (
    AccountRecord,
    Channel,
    ChannelMember,
    ChatMessage,
    ConnectionState,
    Contact,
    Conversation,
    SafetyNumber,
    ServerMeta,
)


@dataclass(frozen=True)
class PendingRegistration:
    """Between ``register_start`` and ``register_finish`` (holds no secret)."""

    server_url: str
    email: str
    token: str  # opaque handle inside the manager


@dataclass(frozen=True)
class RegistrationResult:
    account: AccountRecord
    # The codes the user can still log in with (the registration's own first login
    # used one): shown once by the caller, and kept in the encrypted store.
    backup_codes: list[str]


class ManagerAPI(Protocol):
    # --- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Load saved accounts and start connecting each in the background (returns fast)."""

    async def aclose(self) -> None:
        """Disconnect everything and close every store; idempotent."""

    def events(self) -> AsyncIterator[Event]:
        """The merged event stream of every account (each call is a new subscriber)."""

    # --- accounts (tabs) ------------------------------------------------------------
    def accounts(self) -> list[AccountRecord]: ...

    def connection_state(self, account_id: str) -> tuple[ConnectionState, str | None]: ...

    def connection_reason(self, account_id: str) -> str | None:
        """Why the account is in its state, machine-readable (``events.REASON_*``), when
        known: e.g. ``passphrase_needed`` (unlock screen), ``keyring_unavailable``."""

    async def probe_server(self, url: str) -> ServerMeta: ...

    async def register_start(self, url: str, email: str) -> PendingRegistration:
        """Settle key custody, then ``POST /register`` (an OTP is e-mailed)."""

    async def register_finish(
        self,
        pending: PendingRegistration,
        otp: str,
        display_name: str,
        at_name: str | None = None,
    ) -> RegistrationResult: ...

    async def login(self, url: str, email: str, backup_code: str) -> AccountRecord: ...

    async def link(self, magic_key: str, url_override: str | None = None) -> AccountRecord: ...

    async def magic_key(self, account_id: str) -> str: ...

    async def remove_account(self, account_id: str) -> None: ...

    async def unlock(self, passphrase: str) -> None:
        """Give the passphrase for stores in passphrase mode (LOCKED accounts). Raises
        ``WrongPassphraseError`` when it does not open them."""

    # --- conversations --------------------------------------------------------------
    async def conversations(self, account_id: str) -> list[Conversation]:
        """Sorted by recent activity, newest first."""

    async def people(self, account_id: str) -> list[Contact]:
        """The server's people list (for starting a conversation)."""

    async def open_conversation(self, account_id: str, contact: Contact) -> Conversation: ...

    async def messages(
        self,
        account_id: str,
        conversation_id: str,
        *,
        before: int | None = None,
        limit: int = 50,
    ) -> list[ChatMessage]:
        """Up to ``limit`` messages older than local id ``before`` (newest page when None),
        in ascending order."""

    async def send(self, account_id: str, conversation_id: str, text: str) -> ChatMessage:
        """Write the message as pending and return it at once; delivery happens later.
        A channel's id as ``conversation_id`` sends to the channel."""

    async def retry(self, account_id: str, conversation_id: str, item_id: str) -> None: ...

    async def mark_read(self, account_id: str, conversation_id: str) -> None:
        """The user has seen the conversation: clear unread, send read receipts."""

    # --- trust ----------------------------------------------------------------------
    async def safety_number(self, account_id: str, contact_id: str) -> SafetyNumber: ...

    async def mark_verified(self, account_id: str, contact_id: str) -> None: ...

    async def accept_identity(self, account_id: str, contact_id: str) -> None: ...

    # --- channels (group chats; each is also a conversation of kind GROUP) ----------
    async def channels(self, account_id: str) -> list[Channel]:
        """Our channels, read from the server (with member counts)."""

    async def discover_channels(self, account_id: str) -> list[Channel]:
        """The server's public channels (``member`` says which are ours)."""

    async def create_channel(
        self, account_id: str, name: str, description: str = "", private: bool = False
    ) -> Channel:
        """Create a channel (we are its owner and first member)."""

    async def join_channel(self, account_id: str, channel_id: str) -> Channel: ...

    async def leave_channel(self, account_id: str, channel_id: str) -> None:
        """Leave: the channel's history stays, titled "(left)"."""

    async def channel_members(self, account_id: str, channel_id: str) -> list[ChannelMember]: ...

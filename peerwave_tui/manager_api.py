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
    backup_codes: list[str]  # shown once by the caller; also kept in the encrypted store


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
        """Give the passphrase for stores in passphrase mode (LOCKED accounts)."""

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
        """Write the message as pending and return it at once; delivery happens later."""

    async def retry(self, account_id: str, conversation_id: str, item_id: str) -> None: ...

    async def mark_read(self, account_id: str, conversation_id: str) -> None:
        """The user has seen the conversation: clear unread, send read receipts."""

    # --- trust ----------------------------------------------------------------------
    async def safety_number(self, account_id: str, contact_id: str) -> SafetyNumber: ...

    async def mark_verified(self, account_id: str, contact_id: str) -> None: ...

    async def accept_identity(self, account_id: str, contact_id: str) -> None: ...

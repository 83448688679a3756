"""An in-memory ``ManagerAPI`` for UI tests: a TEST DOUBLE, not a product part.

It drives pure widget behaviour in Pilot tests (paging through 100,000 messages, status
marks, countdowns, labels, notifications, themes, snapshots with fixed dates and ids),
where the real manager would add nothing but noise. It keeps accounts, conversations
and history in dicts, records every call, and emits events when a test tells it to
(``deliver``, ``set_status``, ``change_identity``, ``set_connection``). The flows (send,
receive, tabs, unread counts, Alt+A, Ctrl+K, onboarding, unlock, identity change,
pending → stored, offline and back) run against the real manager and real dev servers:
``tests/ui/real.py``, ``test_demo.py``, ``test_onboarding.py``, ``test_identity.py``,
``test_offline.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from peerwave_tui import events as ev
from peerwave_tui.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    RegistrationIncompleteError,
    ServerUnreachableError,
    StoreWrongKeyError,
    UntrustedIdentityError,
)
from peerwave_tui.manager_api import PendingRegistration, RegistrationResult
from peerwave_tui.models import (
    AccountRecord,
    ChatMessage,
    ConnectionState,
    Contact,
    Conversation,
    ConversationKind,
    Direction,
    MessageKind,
    MessageStatus,
    SafetyNumber,
    ServerMeta,
)

BASE_TIME = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
SAFETY_DIGITS = "".join(f"{n:05d}" for n in range(11111, 11111 + 12 * 1111, 1111))[:60]


@dataclass
class History:
    """One conversation's messages: ``generated`` synthetic ones (ids 1..n), then real ones."""

    conversation_id: str
    generated: int = 0
    extra: list[ChatMessage] = field(default_factory=list)

    def synthetic(self, local_id: int) -> ChatMessage:
        incoming = local_id % 3 != 0
        return ChatMessage(
            local_id=local_id,
            conversation_id=self.conversation_id,
            item_id=f"gen-{local_id}",
            sender_id=self.conversation_id if incoming else "me",
            sender_device=1,
            direction=Direction.IN if incoming else Direction.OUT,
            kind=MessageKind.TEXT,
            text=f"message number {local_id}",
            timestamp=BASE_TIME + timedelta(minutes=local_id),
            status=MessageStatus.RECEIVED if incoming else MessageStatus.READ,
            sender_name="Peer" if incoming else None,
        )

    def last_id(self) -> int:
        return self.extra[-1].local_id if self.extra else self.generated

    def page(self, before: int | None, limit: int) -> list[ChatMessage]:
        end = self.last_id() + 1 if before is None else before
        ids = range(max(1, end - limit), end)
        by_id = {msg.local_id: msg for msg in self.extra if msg.local_id in ids}
        return [by_id.get(i) or self.synthetic(i) for i in ids if i in by_id or i <= self.generated]


class MemoryManager:
    def __init__(self) -> None:
        self.accounts_by_id: dict[str, AccountRecord] = {}
        self.states: dict[str, tuple[ConnectionState, str | None]] = {}
        self.convs: dict[str, dict[str, Conversation]] = {}
        self.histories: dict[tuple[str, str], History] = {}
        self.people_by_account: dict[str, list[Contact]] = {}
        self.calls: list[tuple[object, ...]] = []
        self.fetched = 0  # messages handed out by messages()
        self.started = False
        self.closed = False
        self._subscribers: list[asyncio.Queue[ev.Event | None]] = []
        self._ids = itertools.count(1_000_000)
        # Scripted server behaviour for the onboarding flows.
        self.servers: dict[str, ServerMeta] = {}
        self.otp = "123456"
        self.backup_codes = ["alpha-1111", "bravo-2222", "charlie-3333"]
        self.magic = "pwmk-valid-key"
        self.passphrase = "correct horse"
        self.safety: dict[tuple[str, str], SafetyNumber] = {}
        self.send_error: Exception | None = None
        self.taken_names = {"Taken Name"}

    # --- building a world (tests call these) -----------------------------------------

    def add_account(
        self,
        name: str,
        *,
        port: int = 3000,
        email: str = "me@example.org",
        state: ConnectionState = ConnectionState.CONNECTED,
        detail: str | None = None,
    ) -> AccountRecord:
        account = AccountRecord(
            server_url=f"http://127.0.0.1:{port}",
            server_key=f"127.0.0.1_{port}-{port:010d}",
            client_id=str(uuid.UUID(int=port)),
            email=email,
            user_id="me",
            device_id=1,
            display_name="Me",
            server_name=name,
        )
        self.accounts_by_id[account.account_id] = account
        self.states[account.account_id] = (state, detail)
        self.convs[account.account_id] = {}
        self.people_by_account[account.account_id] = []
        return account

    def add_conversation(
        self,
        account: AccountRecord,
        conversation_id: str,
        title: str,
        *,
        unread: int = 0,
        mentions: int = 0,
        online: bool = False,
        minutes: int = 0,
        messages: int = 0,
    ) -> Conversation:
        conv = Conversation(
            conversation_id=conversation_id,
            kind=ConversationKind.DIRECT,
            title=title,
            last_activity=BASE_TIME + timedelta(minutes=minutes),
            unread=unread,
            mentions=mentions,
            online=online,
        )
        self.convs[account.account_id][conversation_id] = conv
        self.histories[(account.account_id, conversation_id)] = History(
            conversation_id, generated=messages
        )
        return conv

    def add_message(self, account: AccountRecord, message: ChatMessage) -> ChatMessage:
        history = self.histories[(account.account_id, message.conversation_id)]
        message.local_id = history.last_id() + 1
        history.extra.append(message)
        return message

    def add_person(self, account: AccountRecord, contact: Contact) -> None:
        self.people_by_account[account.account_id].append(contact)

    # --- events ----------------------------------------------------------------------

    def emit(self, event: ev.Event) -> None:
        for queue in list(self._subscribers):
            queue.put_nowait(event)

    def _conv_updated(self, account_id: str, conversation_id: str) -> None:
        conv = self.convs[account_id][conversation_id]
        self.emit(ev.ConversationUpdated(account_id, replace(conv)))

    def deliver(
        self,
        account: AccountRecord,
        conversation_id: str,
        text: str,
        *,
        kind: MessageKind = MessageKind.TEXT,
        detail: str | None = None,
        mention: bool = False,
    ) -> ChatMessage:
        """A peer's message arrives: history, unread count, then the events."""
        conv = self.convs[account.account_id][conversation_id]
        history = self.histories[(account.account_id, conversation_id)]
        message = ChatMessage(
            local_id=history.last_id() + 1,
            conversation_id=conversation_id,
            item_id=f"in-{next(self._ids)}",
            sender_id=conversation_id,
            sender_device=1,
            direction=Direction.IN,
            kind=kind,
            text=text,
            timestamp=BASE_TIME + timedelta(days=1, minutes=history.last_id()),
            status=MessageStatus.RECEIVED,
            sender_name=conv.title,
            detail=detail,
        )
        history.extra.append(message)
        conv.unread += 1
        conv.mentions += int(mention)
        conv.last_activity = message.timestamp
        self.emit(ev.MessageReceived(account.account_id, replace(message)))
        self._conv_updated(account.account_id, conversation_id)
        return message

    def set_status(
        self, account: AccountRecord, conversation_id: str, item_id: str, status: MessageStatus
    ) -> None:
        history = self.histories[(account.account_id, conversation_id)]
        for message in history.extra:
            if message.item_id == item_id:
                message.status = status
        self.emit(ev.MessageStatusChanged(account.account_id, conversation_id, item_id, status))

    def change_identity(self, account: AccountRecord, contact_id: str) -> None:
        conv = self.convs[account.account_id][contact_id]
        conv.identity_blocked = True
        self.safety[(account.account_id, contact_id)] = SafetyNumber(
            contact_id, SAFETY_DIGITS, verified=False, changed=True, devices=[1]
        )
        history = self.histories[(account.account_id, contact_id)]
        notice = ChatMessage(
            local_id=history.last_id() + 1,
            conversation_id=contact_id,
            item_id=f"notice-{next(self._ids)}",
            sender_id=contact_id,
            sender_device=None,
            direction=Direction.IN,
            kind=MessageKind.NOTICE,
            text=f"{conv.title}'s safety number changed",
            timestamp=BASE_TIME + timedelta(days=1),
            status=MessageStatus.RECEIVED,
        )
        history.extra.append(notice)
        self.emit(ev.IdentityChanged(account.account_id, contact_id, (1,)))
        self.emit(ev.MessageReceived(account.account_id, replace(notice)))
        self._conv_updated(account.account_id, contact_id)

    def set_connection(
        self,
        account: AccountRecord,
        state: ConnectionState,
        detail: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        self.states[account.account_id] = (state, detail)
        self.emit(ev.ConnectionChanged(account.account_id, state, detail, retry_at))

    # --- ManagerAPI: lifecycle -------------------------------------------------------

    async def start(self) -> None:
        self.calls.append(("start",))
        self.started = True

    async def aclose(self) -> None:
        self.calls.append(("aclose",))
        self.closed = True
        for queue in list(self._subscribers):
            queue.put_nowait(None)

    def events(self) -> AsyncIterator[ev.Event]:
        queue: asyncio.Queue[ev.Event | None] = asyncio.Queue()
        self._subscribers.append(queue)
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[ev.Event | None]) -> AsyncIterator[ev.Event]:
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._subscribers.remove(queue)

    # --- ManagerAPI: accounts --------------------------------------------------------

    def accounts(self) -> list[AccountRecord]:
        return list(self.accounts_by_id.values())

    def connection_state(self, account_id: str) -> tuple[ConnectionState, str | None]:
        return self.states[account_id]

    async def probe_server(self, url: str) -> ServerMeta:
        self.calls.append(("probe_server", url))
        meta = self.servers.get(url)
        if meta is None:
            raise ServerUnreachableError(f"Cannot reach {url}: connection refused.")
        return meta

    async def register_start(self, url: str, email: str) -> PendingRegistration:
        self.calls.append(("register_start", url, email))
        return PendingRegistration(server_url=url, email=email, token="pending-1")

    async def register_finish(
        self,
        pending: PendingRegistration,
        otp: str,
        display_name: str,
        at_name: str | None = None,
    ) -> RegistrationResult:
        self.calls.append(("register_finish", pending.email, otp, display_name, at_name))
        if otp != self.otp:
            raise ApiError(400, "That code is wrong or has expired.")
        if display_name in self.taken_names:
            raise RegistrationIncompleteError(
                "The server refused the profile: that name is taken. Choose another name "
                "and try again; the account exists, and its backup codes can log in.",
                list(self.backup_codes),
            )
        account = self._new_account(pending.server_url, pending.email)
        return RegistrationResult(account=account, backup_codes=list(self.backup_codes))

    async def login(self, url: str, email: str, backup_code: str) -> AccountRecord:
        self.calls.append(("login", url, email))
        if backup_code not in self.backup_codes:
            raise AuthError(401, "That backup code is not valid.")
        return self._new_account(url, email)

    async def link(self, magic_key: str, url_override: str | None = None) -> AccountRecord:
        self.calls.append(("link", url_override))
        if magic_key != self.magic:
            raise ApiError(400, "The magic key is invalid or has expired.")
        return self._new_account(url_override or "http://127.0.0.1:3999", "linked@example.org")

    def _new_account(self, url: str, email: str) -> AccountRecord:
        meta = self.servers.get(url)
        port = int(url.rsplit(":", 1)[-1]) if url.rsplit(":", 1)[-1].isdigit() else 4000
        account = self.add_account(meta.name if meta else "New server", port=port, email=email)
        self.emit(ev.AccountAdded(account.account_id, account))
        return account

    async def magic_key(self, account_id: str) -> str:
        self.calls.append(("magic_key", account_id))
        return "pwmk-" + "A" * 40

    async def remove_account(self, account_id: str) -> None:
        self.calls.append(("remove_account", account_id))
        self.accounts_by_id.pop(account_id, None)
        self.emit(ev.AccountRemoved(account_id))

    async def unlock(self, passphrase: str) -> None:
        self.calls.append(("unlock",))
        if passphrase != self.passphrase:
            raise StoreWrongKeyError("That passphrase does not open the store.")
        for account_id, (state, _detail) in list(self.states.items()):
            if state is ConnectionState.LOCKED:
                self.states[account_id] = (ConnectionState.CONNECTED, None)
                self.emit(ev.ConnectionChanged(account_id, ConnectionState.CONNECTED))

    # --- ManagerAPI: conversations ---------------------------------------------------

    async def conversations(self, account_id: str) -> list[Conversation]:
        self.calls.append(("conversations", account_id))
        convs = self.convs[account_id].values()
        return sorted((replace(c) for c in convs), key=lambda c: c.last_activity, reverse=True)

    async def people(self, account_id: str) -> list[Contact]:
        self.calls.append(("people", account_id))
        return list(self.people_by_account[account_id])

    async def open_conversation(self, account_id: str, contact: Contact) -> Conversation:
        self.calls.append(("open_conversation", account_id, contact.user_id))
        convs = self.convs[account_id]
        if contact.user_id not in convs:
            convs[contact.user_id] = Conversation(
                contact.user_id, ConversationKind.DIRECT, contact.display_name
            )
            self.histories[(account_id, contact.user_id)] = History(contact.user_id)
        return replace(convs[contact.user_id])

    async def messages(
        self,
        account_id: str,
        conversation_id: str,
        *,
        before: int | None = None,
        limit: int = 50,
    ) -> list[ChatMessage]:
        self.calls.append(("messages", account_id, conversation_id, before, limit))
        page = self.histories[(account_id, conversation_id)].page(before, limit)
        self.fetched += len(page)
        return [replace(msg) for msg in page]

    async def send(self, account_id: str, conversation_id: str, text: str) -> ChatMessage:
        self.calls.append(("send", account_id, conversation_id))
        if self.send_error is not None:
            raise self.send_error
        conv = self.convs[account_id][conversation_id]
        if conv.identity_blocked:
            raise UntrustedIdentityError(conversation_id, [1])
        history = self.histories[(account_id, conversation_id)]
        message = ChatMessage(
            local_id=history.last_id() + 1,
            conversation_id=conversation_id,
            item_id=f"out-{next(self._ids)}",
            sender_id="me",
            sender_device=1,
            direction=Direction.OUT,
            kind=MessageKind.TEXT,
            text=text,
            timestamp=BASE_TIME + timedelta(days=1, minutes=history.last_id()),
            status=MessageStatus.PENDING,
        )
        history.extra.append(message)
        self.emit(ev.MessageAdded(account_id, replace(message)))
        return replace(message)

    async def retry(self, account_id: str, conversation_id: str, item_id: str) -> None:
        self.calls.append(("retry", account_id, conversation_id, item_id))
        history = self.histories[(account_id, conversation_id)]
        if not any(msg.item_id == item_id for msg in history.extra):
            raise NotFoundError("That message no longer exists.")
        self.set_status(
            self.accounts_by_id[account_id], conversation_id, item_id, MessageStatus.PENDING
        )

    async def mark_read(self, account_id: str, conversation_id: str) -> None:
        self.calls.append(("mark_read", account_id, conversation_id))
        conv = self.convs[account_id][conversation_id]
        if conv.unread or conv.mentions:
            conv.unread = conv.mentions = 0
            self._conv_updated(account_id, conversation_id)

    # --- ManagerAPI: trust -----------------------------------------------------------

    async def safety_number(self, account_id: str, contact_id: str) -> SafetyNumber:
        self.calls.append(("safety_number", account_id, contact_id))
        number = self.safety.setdefault(
            (account_id, contact_id), SafetyNumber(contact_id, SAFETY_DIGITS, devices=[1])
        )
        return replace(number)

    async def mark_verified(self, account_id: str, contact_id: str) -> None:
        self.calls.append(("mark_verified", account_id, contact_id))
        number = self.safety.setdefault(
            (account_id, contact_id), SafetyNumber(contact_id, SAFETY_DIGITS)
        )
        number.verified = True

    async def accept_identity(self, account_id: str, contact_id: str) -> None:
        self.calls.append(("accept_identity", account_id, contact_id))
        conv = self.convs[account_id][contact_id]
        conv.identity_blocked = False
        number = self.safety.get((account_id, contact_id))
        if number is not None:
            number.changed = False
        self._conv_updated(account_id, contact_id)

    # --- for assertions --------------------------------------------------------------

    def called(self, name: str) -> list[tuple[object, ...]]:
        return [call for call in self.calls if call[0] == name]

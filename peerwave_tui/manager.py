"""SignalClientManager: the saved accounts, one SignalClient each, one event stream.

A failure of one account (its server down, its store locked or damaged, its session
gone) becomes that account's state and never reaches the others. Implements
``manager_api.ManagerAPI`` for the UI; CLI commands use ``open_account``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets as pysecrets
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from peerwave_tui import events as ev
from peerwave_tui.accounts import AccountFactory, NewAccount, Registration, open_existing_store
from peerwave_tui.api import ApiService
from peerwave_tui.client import SignalClient
from peerwave_tui.errors import (
    AmbiguousError,
    KeyCustodyError,
    NotFoundError,
    PeerwaveError,
    RemovedLocallyOnlyError,
    StoreError,
    UsageError,
    WrongPassphraseError,
)
from peerwave_tui.groups import channels as group_channels
from peerwave_tui.manager_api import ManagerAPI, PendingRegistration, RegistrationResult
from peerwave_tui.manager_events import Subscription, reason_for
from peerwave_tui.models import (
    AccountRecord,
    Channel,
    ChannelMember,
    ChatMessage,
    ConnectionState,
    Contact,
    Conversation,
    KeyMode,
    SafetyNumber,
    ServerMeta,
)
from peerwave_tui.paths import Paths, normalize_server_url
from peerwave_tui.saved_accounts import load_accounts, save_accounts
from peerwave_tui.storage.custody import KeyCustody
from peerwave_tui.storage.device_store import DeviceStore

log = logging.getLogger(__name__)

# Removing an account never waits longer than this for its server; the local part
# happens anyway.
SERVER_REMOVAL_TIMEOUT = 20.0


class SignalClientManager:
    def __init__(
        self,
        paths: Paths,
        custody: KeyCustody,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.paths = paths
        self.custody = custody
        self._clock = clock
        self._factory = AccountFactory(paths, custody)
        self._records: list[AccountRecord] = []
        self._clients: dict[str, SignalClient] = {}
        self._states: dict[str, tuple[ConnectionState, str | None]] = {}
        self._reasons: dict[str, str | None] = {}
        self._subscribers: list[Subscription] = []
        self._registrations: dict[str, Registration] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._opening: set[str] = set()  # accounts being opened right now
        self._loaded = False
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------

    def load(self) -> list[AccountRecord]:
        if not self._loaded:
            self._records = load_accounts(self.paths.servers_file)
            self._loaded = True
        return self._records

    async def start(self) -> None:
        """Start every saved account that is neither running nor being opened (so a
        second call starts only what failed or was added since)."""
        for record in self.load():
            if self._is_up_or_opening(record.account_id):
                continue
            self._opening.add(record.account_id)
            self._spawn(self._bring_up(record), f"up:{record.account_id}")

    def _is_up_or_opening(self, account_id: str) -> bool:
        return account_id in self._clients or account_id in self._opening

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        clients = list(self._clients.values())
        self._clients.clear()
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
        registrations = list(self._registrations.values())
        self._registrations.clear()
        for reg in registrations:
            await self._factory.abandon(reg)
        # Every subscription ends (after the events published so far).
        for subscription in list(self._subscribers):
            subscription.end()
        self._subscribers.clear()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bring_up(self, record: AccountRecord) -> PeerwaveError | None:
        """Open and connect one account; a failure becomes its state (with a reason)
        and is returned."""
        account_id = record.account_id
        self._opening.add(account_id)
        try:
            self._set_state(account_id, ConnectionState.CONNECTING, None)
            try:
                client = await self._open_client(record)
            except KeyCustodyError as exc:
                self._set_state(
                    account_id, ConnectionState.LOCKED, str(exc), reason_for(exc, record)
                )
                return exc
            except PeerwaveError as exc:
                self._set_state(
                    account_id, ConnectionState.ERROR, str(exc), reason_for(exc, record)
                )
                return exc
            self._clients[account_id] = client
            try:
                await client.initialize()
            except PeerwaveError as exc:
                self._set_state(
                    account_id, ConnectionState.ERROR, str(exc), reason_for(exc, record)
                )
                return exc
            return None
        finally:
            self._opening.discard(account_id)

    # --- events ------------------------------------------------------------------

    def publish(self, event: ev.Event) -> None:
        if isinstance(event, ev.ConnectionChanged):
            self._states[event.account_id] = (event.state, event.detail)
            self._reasons[event.account_id] = event.reason
        elif isinstance(event, ev.AccountUpdated) and self._closed is False:
            self._save_quietly()
        for subscription in self._subscribers:
            subscription.put(event)

    def _set_state(
        self,
        account_id: str,
        state: ConnectionState,
        detail: str | None,
        reason: str | None = None,
    ) -> None:
        self.publish(ev.ConnectionChanged(account_id, state, detail, reason=reason))

    def events(self) -> AsyncIterator[ev.Event]:
        """A new subscription, registered at once (events published from now on are
        kept for it even before it is first iterated). It ends (``StopAsyncIteration``)
        when the manager is closed, or when the subscriber calls its ``close()``."""
        subscription = Subscription(self._subscribers)
        if self._closed:
            subscription.end()
        return subscription

    # --- accounts ----------------------------------------------------------------

    def accounts(self) -> list[AccountRecord]:
        return list(self.load())

    def connection_state(self, account_id: str) -> tuple[ConnectionState, str | None]:
        return self._states.get(account_id, (ConnectionState.CONNECTING, None))

    def connection_reason(self, account_id: str) -> str | None:
        """The machine-readable reason of the account's last state (``events.REASON_*``)."""
        return self._reasons.get(account_id)

    def find_account(self, server: str | None) -> AccountRecord:
        """The account for ``--server`` (or the only one)."""
        records = self.load()
        if not records:
            raise NotFoundError("No account yet: add one with 'peerwave-tui account register'.")
        if server is None:
            if len(records) == 1:
                return records[0]
            listed = ", ".join(sorted({r.server_url for r in records}))
            raise UsageError(f"Several accounts exist; choose one with --server ({listed}).")
        url = normalize_server_url(server)
        matches = [r for r in records if r.server_url == url]
        if not matches:
            raise NotFoundError(f"No account on {url}.")
        if len(matches) > 1:
            emails = ", ".join(r.email for r in matches)
            raise AmbiguousError(f"Several accounts on {url}: {emails}.")
        return matches[0]

    async def open_account(self, server: str | None, *, connect: bool = True) -> SignalClient:
        """Open one account (CLI commands) and, with ``connect``, start connecting it;
        without, only its HTTP requests work (nothing is received or sent). Raises the
        account's failure."""
        record = self.find_account(server)
        existing = self._clients.get(record.account_id)
        if existing is not None:
            return existing
        client = await self._open_client(record)
        self._clients[record.account_id] = client
        try:
            await (client.initialize() if connect else client.prepare())
        except BaseException:
            self._clients.pop(record.account_id, None)
            await client.aclose()
            raise
        return client

    async def _open_client(self, record: AccountRecord) -> SignalClient:
        """Open the account's existing store, in the key mode it records."""
        directory = self.paths.store_dir(record.server_key, record.client_id)
        store = await open_existing_store(self.custody, directory, record)
        return SignalClient(record, store, publish=self.publish, clock=self._clock)

    def client(self, account_id: str) -> SignalClient:
        client = self._clients.get(account_id)
        if client is None:
            state, detail = self.connection_state(account_id)
            raise StoreError(detail or f"This account is not available ({state.value}).")
        return client

    async def probe_server(self, url: str) -> ServerMeta:
        api = ApiService(normalize_server_url(url))
        try:
            return await api.meta()
        finally:
            await api.aclose()

    async def register_start(self, url: str, email: str) -> PendingRegistration:
        reg = await self._factory.register_start(url, email)
        token = pysecrets.token_urlsafe(16)
        self._registrations[token] = reg
        return PendingRegistration(reg.server_url, reg.email, token)

    async def register_finish(
        self,
        pending: PendingRegistration,
        otp: str,
        display_name: str,
        at_name: str | None = None,
    ) -> RegistrationResult:
        reg = self._registrations.get(pending.token)
        if reg is None:
            raise UsageError("This registration has expired; start again.")
        # On failure the registration stays, so the same call can be made again (a
        # corrected OTP, another display name); steps that worked are not repeated.
        new = await self._factory.register_finish(reg, otp, display_name, at_name)
        self._registrations.pop(pending.token, None)
        await self._adopt(new)
        return RegistrationResult(new.record, new.backup_codes)

    async def login(self, url: str, email: str, backup_code: str) -> AccountRecord:
        server_url = normalize_server_url(url)
        existing = next(
            (
                r
                for r in self.load()
                if r.server_url == server_url and r.email.lower() == email.strip().lower()
            ),
            None,
        )
        if existing is not None and existing.account_id in self._clients:
            await self._clients.pop(existing.account_id).aclose()
        new = await self._factory.login(url, email, backup_code, existing)
        await self._adopt(new)
        return new.record

    async def link(self, magic_key: str, url_override: str | None = None) -> AccountRecord:
        new = await self._factory.link(magic_key, url_override)
        await self._adopt(new)
        return new.record

    async def _adopt(self, new: NewAccount) -> None:
        """Save a new account and start it with the store the factory opened."""
        record = new.record
        records = [r for r in self.load() if r.account_id != record.account_id]
        records.append(record)
        self._records = records
        self._save()
        self.publish(ev.AccountAdded(record.account_id, record))
        client = SignalClient(record, new.store, publish=self.publish, clock=self._clock)
        self._clients[record.account_id] = client
        try:
            await client.initialize()
        except PeerwaveError as exc:
            self._set_state(record.account_id, ConnectionState.ERROR, str(exc))

    def _save(self) -> None:
        save_accounts(self.paths.servers_file, self._records)

    def _save_quietly(self) -> None:
        """Save after a background change (a device id learned); a failure to write
        is logged, not raised into the account that reported the change."""
        try:
            self._save()
        except (PeerwaveError, OSError) as exc:
            log.warning("could not save the accounts file: %s", type(exc).__name__)

    def update_record(self, record: AccountRecord) -> None:
        self._save()

    async def magic_key(self, account_id: str) -> str:
        return await self.client(account_id).magic_key()

    async def remove_account(self, account_id: str) -> None:
        """Delete this device's keys on the server (peers stop encrypting to it), remove
        the device and revoke its session, then remove the local store and its key.
        Local removal happens even if the server is down; then, once it is done,
        ``RemovedLocallyOnlyError`` says that the server still has this device."""
        record = next((r for r in self.load() if r.account_id == account_id), None)
        if record is None:
            raise NotFoundError("No such account.")
        client = self._clients.pop(account_id, None)
        if client is None:
            with contextlib.suppress(PeerwaveError):
                client = await self._open_client(record)
                await client.prepare()
        keys_deleted = False
        if client is not None:
            if client.api is not None:
                try:
                    async with asyncio.timeout(SERVER_REMOVAL_TIMEOUT):
                        keys_deleted = await _forget_on_server(client)
                except TimeoutError:
                    log.info("account removal: the server did not answer in time")
            await client.aclose()
        directory = self.paths.store_dir(record.server_key, record.client_id)
        mode = record.key_mode
        if (directory / "store.json").exists():
            with contextlib.suppress(StoreError, OSError):
                mode = DeviceStore.read_store_info(directory).key_mode
        await DeviceStore.delete(directory)
        with contextlib.suppress(KeyCustodyError):
            await self.custody.forget_key(account_id, mode)
        self._records = [r for r in self._records if r.account_id != account_id]
        self._save()
        self.publish(ev.AccountRemoved(account_id))
        parent = directory.parent
        if parent.exists() and not any(parent.iterdir()):
            shutil.rmtree(parent, ignore_errors=True)
        if not keys_deleted:
            # Local removal is what the user asked for and it is done; that the server
            # still hands out this device's keys is theirs to know.
            raise RemovedLocallyOnlyError(
                f"Removed {record.email} from this computer, but {record.server_url} could "
                "not be told: it still lists this device's keys, so contacts may keep "
                "encrypting messages to it that nobody can read."
            )

    async def unlock(self, passphrase: str) -> None:
        """Open the LOCKED accounts with this passphrase. Raises the custody's
        ``WrongPassphraseError`` when it does not open them (they stay LOCKED)."""
        self.custody.provide_passphrase(passphrase)
        wrong: WrongPassphraseError | None = None
        for record in self.load():
            state, _ = self.connection_state(record.account_id)
            if state is not ConnectionState.LOCKED or self._is_up_or_opening(record.account_id):
                continue
            failure = await self._bring_up(record)
            if isinstance(failure, WrongPassphraseError) and wrong is None:
                wrong = failure
        if wrong is not None:
            raise wrong

    # --- conversations (delegated to the account's client) -------------------------

    async def conversations(self, account_id: str) -> list[Conversation]:
        return await self.client(account_id).conversations()

    async def people(self, account_id: str) -> list[Contact]:
        return await self.client(account_id).people()

    async def open_conversation(self, account_id: str, contact: Contact) -> Conversation:
        return await self.client(account_id).open_conversation(contact)

    async def messages(
        self, account_id: str, conversation_id: str, *, before: int | None = None, limit: int = 50
    ) -> list[ChatMessage]:
        return await self.client(account_id).messages(conversation_id, before, limit)

    async def send(self, account_id: str, conversation_id: str, text: str) -> ChatMessage:
        return await self.client(account_id).send_text(conversation_id, text)

    async def retry(self, account_id: str, conversation_id: str, item_id: str) -> None:
        await self.client(account_id).retry(item_id)

    async def mark_read(self, account_id: str, conversation_id: str) -> None:
        await self.client(account_id).mark_read(conversation_id)

    async def safety_number(self, account_id: str, contact_id: str) -> SafetyNumber:
        return await self.client(account_id).safety_number(contact_id)

    async def mark_verified(self, account_id: str, contact_id: str) -> None:
        await self.client(account_id).mark_verified(contact_id)

    async def accept_identity(self, account_id: str, contact_id: str) -> None:
        await self.client(account_id).accept_identity(contact_id)

    # --- channels (groups) ----------------------------------------------------------

    async def channels(self, account_id: str) -> list[Channel]:
        return await group_channels.refresh_channels(self.client(account_id), counts=True)

    async def discover_channels(self, account_id: str) -> list[Channel]:
        return await group_channels.discover(self.client(account_id))

    async def create_channel(
        self, account_id: str, name: str, description: str = "", private: bool = False
    ) -> Channel:
        return await group_channels.create(self.client(account_id), name, description, private)

    async def join_channel(self, account_id: str, channel_id: str) -> Channel:
        return await group_channels.join(self.client(account_id), channel_id)

    async def leave_channel(self, account_id: str, channel_id: str) -> None:
        await group_channels.leave(self.client(account_id), channel_id)

    async def channel_members(self, account_id: str, channel_id: str) -> list[ChannelMember]:
        return await group_channels.members(self.client(account_id), channel_id)


async def _forget_on_server(client: SignalClient) -> bool:
    """Best effort, in this order: the keys go (peers stop encrypting to this device),
    the device goes (it leaves bundles), the session ends. Removing the device may end
    the session with it, so a failing revoke afterwards is expected. Returns whether
    the server deleted the keys or the device (either stops peers encrypting to it)."""
    api = client.api
    client_id = client.record.client_id
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("key deletion", api.delete_keys),
        ("device removal", lambda: api.delete_client(client_id)),
        ("session revoke", lambda: api.revoke_session(client_id)),
    ]
    forgotten = False
    for what, step in steps:
        try:
            await client.http(step)
        except PeerwaveError as exc:
            log.info("account removal: %s failed on the server (%s)", what, type(exc).__name__)
        else:
            forgotten = forgotten or what != "session revoke"
    return forgotten


if TYPE_CHECKING:
    # mypy checks here that the manager offers everything the UI may call.
    _IMPLEMENTS: type[ManagerAPI] = SignalClientManager

__all__ = ["KeyMode", "SignalClientManager"]

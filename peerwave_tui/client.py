"""SignalClient: one server+account, fully isolated from every other.

It owns the account's DeviceStore (and through it the KeyManager), its ApiService and
its SocketService, and runs five tasks: the socket supervisor (inside SocketService),
one consumer of inbound socket events (``receiver.Inbound`` does the receiving, and
``groups.Groups`` the group events), one outbox sender (``sender.Sender``), the group
send lane (``groups.sender``) and the hourly upkeep (``keysync``).

``initialize()``: open store → restore session → publish or refresh keys → connect;
on every connect: drain pending messages → top up prekeys → send the outbox.
``aclose()`` is idempotent. Failures of this account become its connection state and
events, never exceptions that reach other accounts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from peerwave_tui import events as ev
from peerwave_tui import presence, trust
from peerwave_tui.api import ApiService
from peerwave_tui.client_tasks import log_task_failure, stop_tasks
from peerwave_tui.errors import (
    AuthError,
    LoggedOutError,
    NetworkError,
    PeerwaveError,
    SessionExpiredError,
    StoreError,
    UsageError,
)
from peerwave_tui.groups.service import Groups
from peerwave_tui.groups.tables import GroupTables
from peerwave_tui.keysync import DAY_S, maintain_keys, prune_store
from peerwave_tui.models import (
    AccountRecord,
    ChatMessage,
    ConnectionState,
    Contact,
    Conversation,
    ConversationKind,
    MessageStatus,
    SafetyNumber,
)
from peerwave_tui.receiver import Inbound, Me
from peerwave_tui.secrets import AccountSecrets, SessionGuard
from peerwave_tui.sender import Sender, encrypt_if_ready
from peerwave_tui.signal import KeyManager, TrustEvent, TrustEventKind
from peerwave_tui.socket import SocketService
from peerwave_tui.storage.device_store import DeviceStore
from peerwave_tui.storage.history import History
from peerwave_tui.storage.tx import transaction
from peerwave_tui.trust import TrustNews
from peerwave_tui.wire import BundleDevice, Credentials

log = logging.getLogger(__name__)

T = TypeVar("T")
Publish = Callable[[ev.Event], None]

LIVE_BATCH = 200
UPKEEP_INTERVAL = 3600.0
CLOSE_STEP_TIMEOUT = 30.0


class SignalClient:
    def __init__(
        self,
        record: AccountRecord,
        store: DeviceStore,
        *,
        publish: Publish,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.record = record
        self.account_id = record.account_id
        self.store = store
        self._publish = publish
        self._clock = clock
        self.api: ApiService = None  # type: ignore[assignment]  # set in initialize()
        self.socket: SocketService = None  # type: ignore[assignment]
        self.secrets: AccountSecrets | None = None
        self.guard: SessionGuard = None  # type: ignore[assignment]
        self.state = ConnectionState.CONNECTING
        self.state_detail: str | None = None
        self.upkeep_interval = UPKEEP_INTERVAL
        self._connected = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._sender = Sender(self)
        self.inbound = Inbound(self)
        self.groups = Groups(self)
        self._closed = False
        self._last_prune: float | None = None
        self._keys_lock = asyncio.Lock()
        self._logged_out_told = False

    # --- identity ----------------------------------------------------------------

    @property
    def me(self) -> Me:
        if self.record.user_id is None:
            raise StoreError("This account does not know its user id yet; log in again.")
        return Me(self.record.user_id, self.record.device_id or 0)

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    @property
    def is_connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def publish(self, event: ev.Event) -> None:
        self._publish(event)

    # --- lifecycle ---------------------------------------------------------------

    async def initialize(self) -> None:
        """Restore the session and start: keys are checked, then the socket connects in
        the background (this returns before either finishes)."""
        await self.prepare()
        self._start(self._consume(), "consume")
        self._start(self._sender.run(), "send")
        self._start(self.groups.run_sender(), "group-send")
        self._start(self._startup(), "startup")

    async def prepare(self) -> None:
        """Restore the session and build the services, without connecting (enough for
        HTTP requests, e.g. removing the account); idempotent."""
        if self.api is not None:
            return
        self.secrets = await self.store.run(AccountSecrets.load)
        credentials = self.secrets.credentials(self.record.client_id, self.record.user_id)
        if self.record.user_id is None:
            self.record.user_id = self.secrets.user_id
        self.api = ApiService(self.record.server_url, credentials=credentials, clock=self._clock)
        self.guard = SessionGuard(
            self.store, self.api, self.secrets, self.record.client_id, clock=self._clock
        )
        self.socket = SocketService(
            self.record.server_url,
            self._credentials,
            on_state=self._on_socket_state,
            clock_ms=self.api.server_time_ms,
        )

    def _start(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        task = asyncio.create_task(coro, name=f"{what}:{self.account_id}")
        task.add_done_callback(self._task_ended)
        self._tasks.append(task)

    def _task_ended(self, task: asyncio.Task[Any]) -> None:
        """One of the account's own tasks ended by itself: it cannot work any more."""
        if task.cancelled() or self._closed:
            return
        exc = task.exception()
        if exc is None:
            return  # it ended after reporting why (a store failure)
        what = task.get_name().split(":", 1)[0]
        log.error("the %s task of an account stopped (%s)", what, type(exc).__name__)
        detail = str(exc) if isinstance(exc, PeerwaveError) else f"An internal {what} task stopped."
        self._set_state(ConnectionState.ERROR, detail)

    def _credentials(self) -> Credentials | None:
        if self.secrets is None or self.secrets.session_secret is None:
            return None
        return self.secrets.credentials(self.record.client_id, self.record.user_id)

    async def _startup(self) -> None:
        """Keys before the socket: peers retry a contact when it comes online, and by
        then its keys must be on the server."""
        with contextlib.suppress(PeerwaveError):
            await self._maintain_keys()
        await self.socket.start()
        while True:
            await asyncio.sleep(self.upkeep_interval)
            if self.is_connected:
                with contextlib.suppress(PeerwaveError):
                    await self.upkeep()

    async def aclose(self) -> None:
        """Stop everything and close the store; idempotent. Every step is bounded, so
        a server that stops answering cannot keep the app from closing."""
        if self._closed:
            return
        self._closed = True
        self._connected.clear()
        await stop_tasks(self._tasks + list(self._background), CLOSE_STEP_TIMEOUT)
        self._tasks.clear()
        if self.socket is not None:
            stopping = asyncio.ensure_future(self.socket.stop())
            await stop_tasks([stopping], CLOSE_STEP_TIMEOUT, cancel=False)
        if self.api is not None:
            with contextlib.suppress(Exception):
                await self.api.aclose()
        self._sender.cancel_waiters()
        self.groups.cancel_waiters()
        await self.store.aclose()
        self._set_state(ConnectionState.CLOSED, None)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A short background job, cancelled by ``aclose``; failures are only logged."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(log_task_failure)
        return task

    # --- HTTP with the session guard ------------------------------------------------

    async def http(self, request: Callable[[], Awaitable[T]]) -> T:
        """A signed request (or several): renews an expired session once; a session
        that is gone for good is told to the user once."""
        try:
            return await self.guard.call(request)
        except (LoggedOutError, SessionExpiredError) as exc:
            if not self._logged_out_told:
                self._logged_out_told = True
                self.publish(ev.ErrorRaised(self.account_id, str(exc), needs_user=True))
            raise

    async def _maintain_keys(self) -> None:
        async with self._keys_lock:  # one run at a time (they would plan the same keys)
            try:
                await self.http(lambda: maintain_keys(self.store, self.api))
            except NetworkError as exc:
                log.info("key maintenance failed: %s", type(exc).__name__)
                raise

    async def upkeep(self) -> None:
        """At least one signed request a day (keys checked, session kept sliding), and
        once a day the store is pruned (old keys, dedupe ledger, finished outbox)."""
        now = self._clock()
        last = self.guard.last_success
        if last is None or now - last >= DAY_S:
            await self._maintain_keys()
        if self._last_prune is None or now - self._last_prune >= DAY_S:
            result = await self.store.run(lambda conn: prune_store(conn, self.now_ms()))
            self._last_prune = now
            log.info("store pruned: %s", result)
        await self.groups.upkeep()

    # --- state -------------------------------------------------------------------

    def _set_state(
        self,
        state: ConnectionState,
        detail: str | None,
        retry_at: Any = None,
        reason: str | None = None,
    ) -> None:
        self.state = state
        self.state_detail = detail
        self.publish(ev.ConnectionChanged(self.account_id, state, detail, retry_at, reason))

    def _on_socket_state(self, state: ConnectionState, detail: str | None, retry_at: Any) -> None:
        if self._closed:
            return
        if state is ConnectionState.CONNECTED:
            return  # shown once the consumer has handled the connect (_on_connected)
        self._connected.clear()
        self._sender.connection_lost()
        self.groups.connection_lost()
        reason = None
        if state is ConnectionState.ERROR and isinstance(self.socket.last_error, AuthError):
            reason = ev.REASON_AUTH_FAILED
        self._set_state(state, detail, retry_at, reason)

    # --- inbound events ----------------------------------------------------------

    async def _consume(self) -> None:
        async for name, payload in self.socket.events():
            try:
                await self._handle(name, payload)
            except asyncio.CancelledError:
                raise
            except StoreError as exc:
                self._set_state(ConnectionState.ERROR, str(exc))
                return
            except PeerwaveError as exc:
                log.info("event %s failed: %s", name, type(exc).__name__)
            except Exception as exc:  # noqa: BLE001 - one bad event must not end the consumer
                log.error("unexpected failure handling event %s (%s)", name, type(exc).__name__)

    async def _handle(self, name: str, payload: Any) -> None:
        if name == "connected":
            await self._on_connected(payload)
        elif name == "receiveItem":
            batch = [payload, *self.socket.take_ready("receiveItem", LIVE_BATCH)]
            await self.inbound.process(batch)
        elif name in ("pendingMessagesAvailable", "resync"):
            # "resync": the inbox overflowed and dropped events; the items are still
            # on the server, so a drain picks them up.
            if self.is_connected:
                await self._drain()
        elif name == "deliveryReceipt":
            batch = [payload, *self.socket.take_ready("deliveryReceipt", LIVE_BATCH)]
            await self._sender.on_receipts(batch)
        elif name == "presence":
            await presence.on_presence(self, payload)
            await self.groups.on_presence(payload)
        elif name == "groupItem":
            batch = [payload, *self.socket.take_ready("groupItem", LIVE_BATCH)]
            await self.groups.on_group_items(batch)
        elif name == "receiveSenderKeyDistribution":
            # May come before "connected" (the server sends these at once); handled
            # here, in order with every other 1:1 ciphertext of that session.
            await self.groups.on_distribution(payload)
        elif name == "groupItemDelivered":
            await self.groups.on_delivered(payload)
        elif name == "groupItemError":
            await self.groups.on_error(payload)
        elif name == "groupItemReadUpdate":
            await self.groups.on_read_update(payload)

    async def _on_connected(self, session: Any) -> None:
        if not self.socket.connected:
            return  # lost again before we got to it; the next connect comes later
        device_id = getattr(session, "device_id", None)
        user_id = getattr(session, "user_id", None)
        if device_id is not None and device_id != self.record.device_id:
            self.record.device_id = int(device_id)
            if user_id:
                self.record.user_id = user_id
            self.publish(ev.AccountUpdated(self.account_id, self.record))
        self._connected.set()
        self._set_state(ConnectionState.CONNECTED, None)
        self._sender.wake()  # open copies are resent in order right away
        self.groups.sender.wake()
        await self._drain()
        self.spawn(presence.refresh_presence(self))
        self.spawn(self.groups.after_connect())

    async def _drain(self) -> None:
        await self.inbound.drain()
        # Top up one-time prekeys after every sync, without holding up the consumer.
        self.spawn(self._maintain_keys())

    def schedule_conversation_update(self, conversation_id: str) -> None:
        async def update() -> None:
            conv = await self.store.run(lambda c: History(c).conversation(conversation_id))
            if conv is not None:
                self.publish(ev.ConversationUpdated(self.account_id, conv))

        self.spawn(update())

    # --- callbacks from the pipelines ------------------------------------------------

    def peer_online(self, user_id: str) -> None:
        """A peer came online: its waiting messages (if any) are tried now."""
        self._sender.peer_changed(user_id)

    def outbox_changed(self, peer: str | None = None) -> None:
        """Something new can go out (to ``peer``, which may have been waiting)."""
        if peer is not None:
            self._sender.peer_changed(peer)
        self._sender.wake()

    def on_trust_news(self, news: TrustNews) -> None:
        for notice in news.notices:
            self.publish(ev.MessageReceived(self.account_id, notice))
            self.schedule_conversation_update(notice.conversation_id)
        self.on_trust_events(news.events)

    def on_trust_events(self, trust_events: list[TrustEvent]) -> None:
        changed = False
        for event in trust_events:
            if event.kind is TrustEventKind.IDENTITY_CHANGED:
                changed = True
                self.publish(ev.IdentityChanged(self.account_id, event.user_id, (event.device_id,)))
            elif event.kind is TrustEventKind.NEW_DEVICE:
                self.publish(ev.NewDeviceSeen(self.account_id, event.user_id, event.device_id))
        if changed:
            # A device reinstalled at the same id lost our sender keys with its old
            # install, however we learnt of its new identity (bundle, 1:1, distribution).
            self.spawn(self.groups.on_trust_events(list(trust_events)))

    async def learn_names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Fetch and keep the profiles of these people, so their conversations have a
        title; their display names by id (none when the lookup fails: ids stay shown)."""
        unknown = sorted(set(user_ids))
        if not unknown:
            return {}
        try:
            profiles = await self.http(lambda: self.api.profiles(unknown))
        except PeerwaveError as exc:
            log.info("profile lookup failed: %s", type(exc).__name__)
            return {}
        await self.save_contacts(profiles)
        return {p.user_id: p.display_name for p in profiles}

    async def save_contacts(self, contacts: list[Contact]) -> None:
        now = self.now_ms()

        def save(conn: Any) -> None:
            history = History(conn)
            with transaction(conn):
                for contact in contacts:
                    history.upsert_contact(contact, now)

        await self.store.run(save)

    # --- operations for the manager, CLI and UI -----------------------------------

    async def send_text(self, conversation_id: str, text: str) -> ChatMessage:
        """Write the message as pending (the outbox) and return at once."""
        if not text.strip():
            raise UsageError("Cannot send an empty message.")
        item_id = str(uuid.uuid4())
        me = self.me
        now = self.now_ms()
        online = self.is_connected
        own = self.record.client_id

        def write(conn: Any) -> ChatMessage | None:
            # (the channel check shares this store job: one round trip less per send)
            if GroupTables(conn).channel(conversation_id) is not None:
                return None  # a channel: the group pipeline writes it
            history = History(conn)
            with transaction(conn):
                message = history.insert_own_text(
                    conversation_id=conversation_id,
                    conversation_kind=ConversationKind.DIRECT,
                    item_id=item_id,
                    sender=me.user_id,
                    sender_device=me.device_id,
                    text=text,
                    created_at=now,
                )
                history.enqueue(
                    item_id=item_id,
                    peer=conversation_id,
                    type="message",
                    created_at=now,
                    message_id=message.local_id,
                )
                if online:
                    encrypt_if_ready(conn, item_id, me, own, now)
            return message

        message = await self.store.run(write)
        if message is None:
            return await self.groups.send_text(conversation_id, text)
        self.publish(ev.MessageAdded(self.account_id, message))
        self.outbox_changed(conversation_id)  # a waiting peer is asked again now
        return message

    async def wait_stored(self, item_id: str, timeout: float) -> None:
        """Wait until every copy of ``item_id`` is stored on the server. Raises
        ``TimeoutError``, ``NoRecipientDevicesError`` or ``UntrustedIdentityError``
        (a group item: once the server stored it; a failure raises its reason)."""
        if await self.store.run(lambda c: GroupTables(c).outgoing(item_id)) is not None:
            await self.groups.sender.wait_stored(item_id, timeout)
            return
        await self._sender.wait_stored(item_id, timeout)

    async def wait_drained(self, timeout: float) -> None:
        """Until the first pending-message drain after connecting has finished."""
        async with asyncio.timeout(timeout):
            await self.inbound.drained_once.wait()

    async def wait_outbox_idle(self, timeout: float) -> bool:
        """Until everything in the outbox that can go out now has gone out (True), or
        ``timeout`` passes (False). Items blocked on a contact do not count."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if await self.store.run(lambda c: History(c).has_open_outgoing()):
            if not await self._sender.wait_idle(timeout):
                return False
        if await self.store.run(lambda c: bool(GroupTables(c).open_outgoing())):
            return await self.groups.sender.wait_idle(max(0.0, deadline - loop.time()))
        return True

    async def retry(self, item_id: str) -> None:
        if await self.groups.retry(item_id):
            return

        def requeue(conn: Any) -> str | None:
            history = History(conn)
            with transaction(conn):
                item = history.outgoing(item_id)
                if item is None or item.state != "failed":
                    return None
                history.drop_copies(item_id)
                history.set_outgoing_state(item_id, "queued")
                history.set_status(item_id, MessageStatus.PENDING)
                return item.peer

        peer = await self.store.run(requeue)
        if peer is not None:
            self.outbox_changed(peer)

    async def mark_read(self, conversation_id: str, send_receipts: bool = True) -> None:
        """The user has seen the conversation: clear unread, send read receipts (in a
        channel: mark its items read on the server)."""
        if await self.groups.is_group(conversation_id):
            await self.groups.mark_seen(conversation_id)
            return
        if await self.inbound.mark_seen(conversation_id, send_receipts):
            self._sender.wake()
        self.schedule_conversation_update(conversation_id)

    async def messages(
        self, conversation_id: str, before: int | None, limit: int
    ) -> list[ChatMessage]:
        return await self.store.run(lambda c: History(c).page(conversation_id, before, limit))

    async def conversations(self) -> list[Conversation]:
        return await self.store.run(lambda c: History(c).conversations())

    async def people(self) -> list[Contact]:
        people = await self.http(self.api.people)
        await self.save_contacts(people)
        return people

    async def known_contacts(self) -> list[Contact]:
        return await self.store.run(lambda c: History(c).contacts())

    async def open_conversation(self, contact: Contact) -> Conversation:
        now = self.now_ms()

        def ensure(conn: Any) -> Conversation | None:
            history = History(conn)
            with transaction(conn):
                history.upsert_contact(contact, now)
                history.ensure_conversation(
                    contact.user_id, ConversationKind.DIRECT, contact.display_name
                )
            return history.conversation(contact.user_id)

        conv = await self.store.run(ensure)
        assert conv is not None
        self.publish(ev.ConversationUpdated(self.account_id, conv))
        return conv

    async def refresh_devices(self, contact_id: str) -> list[BundleDevice]:
        """Fetch the contact's bundle now and record what it says (new devices, changed
        keys); the fresh device list also replaces the sender's cache."""
        return await trust.refresh_devices(self, contact_id)

    async def safety_number(self, contact_id: str) -> SafetyNumber:
        return await trust.safety_number_of(self, contact_id)

    async def mark_verified(self, contact_id: str) -> None:
        await self.store.run(lambda c: KeyManager(c).mark_verified(contact_id))
        await trust.requeue_after_trust(self, contact_id)

    async def accept_identity(self, contact_id: str) -> None:
        await self.store.run(lambda c: KeyManager(c).accept_identity(contact_id))
        await trust.requeue_after_trust(self, contact_id)

    async def magic_key(self) -> str:
        key, _expires = await self.http(self.api.generate_magic_key)
        return key

"""SignalClient: one server+account, fully isolated from every other.

It owns the account's DeviceStore (and through it the KeyManager), its ApiService and
its SocketService, and runs three tasks: the socket supervisor (inside
SocketService), one consumer of inbound socket events, and one outbox sender.

``initialize()``: open store → restore session → connect; on every connect: publish or
refresh keys → drain pending messages → send the outbox. ``aclose()`` is idempotent.
Failures of this account become its connection state and events, never exceptions
that reach other accounts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from peerwave_tui import events as ev
from peerwave_tui.api import ApiService
from peerwave_tui.errors import (
    AuthError,
    NetworkError,
    PeerwaveError,
    StoreError,
    UsageError,
)
from peerwave_tui.keysync import maintain_keys
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
)
from peerwave_tui.receiver import READ_RECEIPT, ItemOutcome, Me, process_items
from peerwave_tui.secrets import AccountSecrets
from peerwave_tui.sender import Sender
from peerwave_tui.signal import KeyManager, TrustEvent
from peerwave_tui.socket import SocketService
from peerwave_tui.storage.custody import KeyCustody
from peerwave_tui.storage.device_store import DeviceStore
from peerwave_tui.storage.history import History, OutgoingItem
from peerwave_tui.storage.tx import transaction
from peerwave_tui.trust import safety_number_for
from peerwave_tui.wire import Credentials, IncomingItem

log = logging.getLogger(__name__)

PENDING_PAGE = 50
DEVICE_INFO = "peerwave-tui"
KEY_CHECK_INTERVAL = 24 * 3600.0  # also keeps the session sliding (one signed request a day)
LIVE_BATCH = 200

Publish = Callable[[ev.Event], None]


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
        self.state = ConnectionState.CONNECTING
        self.state_detail: str | None = None
        self._connected = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._sender = Sender(self)
        self._closed = False
        self._last_key_check = 0.0
        self._drain_lock = asyncio.Lock()
        self._drained_once = asyncio.Event()
        self._stored_waiters: dict[str, asyncio.Future[None]] = {}

    # --- identity ----------------------------------------------------------------

    @property
    def me(self) -> Me:
        assert self.record.user_id is not None
        return Me(self.record.user_id, self.record.device_id or 0)

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    @property
    def is_connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    # --- lifecycle ---------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        record: AccountRecord,
        store_dir: Any,
        custody: KeyCustody,
        *,
        publish: Publish,
        clock: Callable[[], float] = time.time,
    ) -> SignalClient:
        """Open the account's existing store (its recorded key mode) and wrap it."""
        info = DeviceStore.read_store_info(store_dir)
        key = await custody.existing_store_key(record.account_id, info)
        store = await DeviceStore.open(
            store_dir,
            key,
            server_url=record.server_url,
            key_mode=info.key_mode,
            keyring_backend=info.keyring_backend,
            create=False,
        )
        return cls(record, store, publish=publish, clock=clock)

    async def initialize(self) -> None:
        """Restore the session and start connecting; returns once the socket supervisor
        runs (not once connected)."""
        self.secrets = await self.store.run(AccountSecrets.load)
        if self.secrets.session_secret is None:
            raise AuthError(401, "This account is not logged in; log in again.", "no_session")
        if self.record.user_id is None:
            self.record.user_id = self.secrets.user_id
        self.api = ApiService(self.record.server_url, credentials=self._credentials())
        self.socket = SocketService(
            self.record.server_url,
            self._credentials,
            on_state=self._on_socket_state,
            clock_ms=self.api.server_time_ms,
        )
        self._tasks.append(asyncio.create_task(self._consume(), name=f"consume:{self.account_id}"))
        self._tasks.append(asyncio.create_task(self._sender.run(), name=f"send:{self.account_id}"))
        await self.socket.start()

    def _credentials(self) -> Credentials:
        assert self.secrets is not None and self.secrets.session_secret is not None
        return Credentials(
            client_id=self.record.client_id,
            session_secret=self.secrets.session_secret,
            user_id=self.secrets.user_id or self.record.user_id or "",
            refresh_token=self.secrets.refresh_token,
        )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._connected.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.stop()
        if self.api is not None:
            with contextlib.suppress(Exception):
                await self.api.aclose()
        for waiter in self._stored_waiters.values():
            if not waiter.done():
                waiter.cancel()
        await self.store.aclose()
        self._set_state(ConnectionState.CLOSED, None)

    # --- state -------------------------------------------------------------------

    def _set_state(self, state: ConnectionState, detail: str | None, retry_at: Any = None) -> None:
        self.state = state
        self.state_detail = detail
        self._publish(ev.ConnectionChanged(self.account_id, state, detail, retry_at))

    def _on_socket_state(self, state: ConnectionState, detail: str | None, retry_at: Any) -> None:
        if self._closed:
            return
        if state is not ConnectionState.CONNECTED:
            self._connected.clear()
        self._set_state(state, detail, retry_at)

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
            except Exception:
                log.exception("unexpected failure handling event %s", name)

    async def _handle(self, name: str, payload: Any) -> None:
        if name == "connected":
            await self._on_connected(payload)
        elif name == "receiveItem":
            batch = [payload]
            batch.extend(self.socket.take_ready("receiveItem", LIVE_BATCH))
            await self._process_and_delete(batch)
        elif name in ("pendingMessagesAvailable", "resync"):
            # "resync": the inbox overflowed and dropped events; the items are still
            # on the server, so a drain picks them up.
            await self.drain_pending()
        elif name == "deliveryReceipt":
            await self._on_receipt(payload)
        elif name == "presence":
            await self._on_presence(payload)

    async def _on_connected(self, info: Any) -> None:
        device_id = getattr(info, "device_id", None)
        user_id = getattr(info, "user_id", None)
        if device_id is not None and device_id != self.record.device_id:
            self.record.device_id = int(device_id)
            if user_id:
                self.record.user_id = user_id
            self._publish(ev.AccountUpdated(self.account_id, self.record))
        try:
            if self._clock() - self._last_key_check > KEY_CHECK_INTERVAL:
                await maintain_keys(self.store, self.api)
                self._last_key_check = self._clock()
        except NetworkError as exc:
            log.info("key maintenance failed: %s", type(exc).__name__)
        self._connected.set()
        self._set_state(ConnectionState.CONNECTED, None)
        await self.drain_pending()
        self._sender.wake()

    async def drain_pending(self) -> int:
        """Fetch and process every pending item (protocol.md §5.5); returns how many."""
        async with self._drain_lock:
            processed = 0
            offset = 0
            while self.is_connected:
                page = await self.socket.fetch_pending(PENDING_PAGE, offset)
                one_to_one = [i for i in page.items if i.channel_id is None]
                # Group items stay until marked read; malformed entries the parser
                # skipped stay on the server too: both count as remaining.
                remaining = len(page.items) - len(one_to_one) + page.skipped
                if one_to_one:
                    await self._process_and_delete(one_to_one)
                processed += len(one_to_one)
                self._publish(ev.BacklogProgress(self.account_id, processed))
                if not page.has_more or not page.items:
                    break
                offset += remaining
            self._publish(ev.BacklogProgress(self.account_id, processed, done=True))
            try:
                await maintain_keys(self.store, self.api)
            except NetworkError as exc:
                log.info("prekey top-up failed: %s", type(exc).__name__)
            self._drained_once.set()
            return processed

    async def _process_and_delete(self, items: list[IncomingItem]) -> None:
        me = self.me
        now = self.now_ms()
        outcomes = await self.store.run(lambda conn: process_items(conn, items, me, now))
        await self._learn_senders(outcomes)
        self._emit_outcomes(outcomes)
        deletions = [self.socket.delete_item(o.item_id) for o in outcomes if o.delete]
        if deletions:
            results = await asyncio.gather(*deletions, return_exceptions=True)
            failed = sum(1 for r in results if isinstance(r, BaseException))
            if failed:
                log.info("%d deleteItem calls failed; the items will come again", failed)

    async def _learn_senders(self, outcomes: list[ItemOutcome]) -> None:
        """Fetch the profiles of conversation partners we have no name for yet, so the
        conversation has a title (once per person; failures leave the id shown)."""
        peers = {o.peer for o in outcomes if o.message is not None and o.peer}
        peers |= {o.message.sender_id for o in outcomes if o.message is not None}
        if not peers:
            return
        known = await self.store.run(lambda c: {k.user_id for k in History(c).contacts()})
        unknown = sorted(peers - known)
        if not unknown:
            return
        try:
            profiles = await self.api.profiles(unknown)
        except PeerwaveError as exc:
            log.info("profile lookup failed: %s", type(exc).__name__)
            return
        now = self.now_ms()

        def save(conn: Any) -> None:
            history = History(conn)
            with transaction(conn):
                for profile in profiles:
                    history.upsert_contact(profile, now)

        await self.store.run(save)
        names = {p.user_id: p.display_name for p in profiles}
        for outcome in outcomes:
            message = outcome.message
            if message is not None and message.sender_name is None:
                message.sender_name = names.get(message.sender_id)

    def _emit_outcomes(self, outcomes: list[ItemOutcome]) -> None:
        for outcome in outcomes:
            if outcome.message is not None:
                self._publish(ev.MessageReceived(self.account_id, outcome.message))
            for item_id in outcome.read_item_ids:
                conv = outcome.peer or ""
                self._publish(
                    ev.MessageStatusChanged(self.account_id, conv, item_id, MessageStatus.READ)
                )
            if outcome.peer and outcome.trust_events:
                self.on_trust_events(outcome.peer, outcome.trust_events)
            if outcome.message is not None or outcome.seen_conversation:
                conv_id = outcome.seen_conversation or outcome.message.conversation_id  # type: ignore[union-attr]
                self._schedule_conversation_update(conv_id)

    def _schedule_conversation_update(self, conversation_id: str) -> None:
        async def update() -> None:
            conv = await self.store.run(lambda c: History(c).conversation(conversation_id))
            if conv is not None:
                self._publish(ev.ConversationUpdated(self.account_id, conv))

        task = asyncio.create_task(update())
        task.add_done_callback(_log_task_failure)

    async def _on_receipt(self, receipt: Any) -> None:
        item_id = receipt.item_id

        def record(conn: Any) -> tuple[bool, bool]:
            history = History(conn)
            with transaction(conn):
                complete = history.mark_copy_stored(
                    item_id, receipt.recipient_user_id, receipt.recipient_device_id
                )
                changed = complete and history.set_status(item_id, MessageStatus.STORED)
            return complete, changed

        complete, changed = await self.store.run(record)
        self._sender.receipt_arrived(item_id)
        if complete:
            waiter = self._stored_waiters.get(item_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        if changed:
            message = await self.store.run(lambda c: History(c).message_by_item(item_id))
            if message is not None:
                self._publish(
                    ev.MessageStatusChanged(
                        self.account_id, message.conversation_id, item_id, MessageStatus.STORED
                    )
                )

    async def _on_presence(self, presence: Any) -> None:
        changed = await self.store.run(
            lambda c: History(c).set_presence(
                presence.user_id,
                presence.online,
                int(presence.last_seen.timestamp() * 1000) if presence.last_seen else None,
            )
        )
        if changed:
            self._publish(
                ev.PresenceChanged(
                    self.account_id, presence.user_id, presence.online, presence.last_seen
                )
            )
        if presence.online:
            self._sender.peer_changed(presence.user_id)

    # --- callbacks from the sender -----------------------------------------------

    def on_send_blocked(self, item: OutgoingItem, *, identity: bool, reason: str = "") -> None:
        waiter = self._stored_waiters.get(item.item_id)
        if identity:
            self._publish(ev.IdentityChanged(self.account_id, item.peer))
            if item.message_id is not None:
                self._publish(
                    ev.MessageStatusChanged(
                        self.account_id,
                        item.peer,
                        item.item_id,
                        MessageStatus.FAILED,
                        "identity changed",
                    )
                )
            if waiter is not None and not waiter.done():
                from peerwave_tui.errors import UntrustedIdentityError

                waiter.set_exception(UntrustedIdentityError(item.peer))
        else:
            if item.message_id is not None:
                self._publish(
                    ev.MessageStatusChanged(
                        self.account_id, item.peer, item.item_id, MessageStatus.PENDING, reason
                    )
                )
            if waiter is not None and not waiter.done():
                from peerwave_tui.errors import NoRecipientDevicesError

                waiter.set_exception(NoRecipientDevicesError(reason))

    def on_trust_events(self, peer: str, trust_events: list[TrustEvent]) -> None:
        for event in trust_events:
            if event.kind == "identity_changed":
                self._publish(
                    ev.IdentityChanged(self.account_id, event.user_id, (event.device_id,))
                )
            elif event.kind == "new_device":
                self._publish(ev.NewDeviceSeen(self.account_id, event.user_id, event.device_id))

    # --- operations for the manager, CLI and UI -----------------------------------

    async def send_text(self, conversation_id: str, text: str) -> ChatMessage:
        if not text.strip():
            raise UsageError("Cannot send an empty message.")
        item_id = str(uuid.uuid4())
        me = self.me
        now = self.now_ms()

        def write(conn: Any) -> ChatMessage:
            history = History(conn)
            with transaction(conn):
                message = history.insert_message(
                    conversation_id=conversation_id,
                    conversation_kind=ConversationKind.DIRECT,
                    item_id=item_id,
                    sender=me.user_id,
                    sender_device=me.device_id,
                    direction=Direction.OUT,
                    kind=MessageKind.TEXT,
                    body=text,
                    status=MessageStatus.PENDING,
                    created_at=now,
                    reported=True,
                )
                assert message is not None
                history.enqueue(
                    item_id=item_id,
                    peer=conversation_id,
                    type="message",
                    created_at=now,
                    message_id=message.local_id,
                )
            return message

        message = await self.store.run(write)
        self._publish(ev.MessageAdded(self.account_id, message))
        self._sender.wake()
        return message

    async def wait_stored(self, item_id: str, timeout: float) -> None:
        """Wait until every copy of ``item_id`` is stored on the server."""
        loop = asyncio.get_running_loop()
        waiter = self._stored_waiters.setdefault(item_id, loop.create_future())
        state = await self.store.run(lambda c: History(c).outgoing(item_id))
        if state is not None and state.state == "done":
            return
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        finally:
            self._stored_waiters.pop(item_id, None)

    async def wait_drained(self, timeout: float) -> None:
        """Until the first pending-message drain after connecting has finished."""
        await asyncio.wait_for(self._drained_once.wait(), timeout)

    async def wait_outbox_idle(self, timeout: float) -> bool:
        """Until the outbox has nothing open (True) or ``timeout`` passes (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            items = await self.store.run(lambda c: History(c).open_outgoing())
            if not items:
                return True
            await asyncio.sleep(0.1)
        return False

    async def retry(self, item_id: str) -> None:
        def requeue(conn: Any) -> bool:
            history = History(conn)
            with transaction(conn):
                item = history.outgoing(item_id)
                if item is None or item.state != "failed":
                    return False
                history.drop_copies(item_id)
                history.set_outgoing_state(item_id, "queued")
                history.set_status(item_id, MessageStatus.PENDING)
                return True

        if await self.store.run(requeue):
            self._sender.wake()

    async def mark_read(self, conversation_id: str, send_receipts: bool = True) -> None:
        now = self.now_ms()
        device = self.me.device_id

        def seen(conn: Any) -> int:
            history = History(conn)
            with transaction(conn):
                targets = history.mark_conversation_seen(conversation_id)
                if not send_receipts:
                    return 0
                for item_id, sender in targets:
                    body = json.dumps({"itemId": item_id, "readByDeviceId": str(device)})
                    history.enqueue(
                        item_id=str(uuid.uuid4()),
                        peer=sender,
                        type=READ_RECEIPT,
                        created_at=now,
                        plaintext=body.encode("utf-8"),
                    )
                return len(targets)

        if await self.store.run(seen):
            self._sender.wake()
        self._schedule_conversation_update(conversation_id)

    async def messages(
        self, conversation_id: str, before: int | None, limit: int
    ) -> list[ChatMessage]:
        return await self.store.run(lambda c: History(c).page(conversation_id, before, limit))

    async def conversations(self) -> list[Conversation]:
        return await self.store.run(lambda c: History(c).conversations())

    async def people(self) -> list[Contact]:
        people = await self.api.people()
        now = self.now_ms()

        def save(conn: Any) -> None:
            history = History(conn)
            with transaction(conn):
                for person in people:
                    history.upsert_contact(person, now)

        await self.store.run(save)
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
        self._publish(ev.ConversationUpdated(self.account_id, conv))
        return conv

    async def safety_number(self, contact_id: str) -> SafetyNumber:
        devices = await self.api.prekey_bundle(contact_id)
        me = self.me
        return await self.store.run(lambda c: safety_number_for(c, me.user_id, contact_id, devices))

    async def mark_verified(self, contact_id: str) -> None:
        await self.store.run(lambda c: KeyManager(c).mark_verified(contact_id))

    async def accept_identity(self, contact_id: str) -> None:
        def accept(conn: Any) -> list[str]:
            history = History(conn)
            with transaction(conn):
                KeyManager(conn).accept_identity(contact_id)
                history.forget_bundle(contact_id)
                failed = [i.item_id for i in history.failed_outgoing(contact_id)]
                for item_id in failed:
                    history.drop_copies(item_id)
                    history.set_outgoing_state(item_id, "queued")
                    history.set_status(item_id, MessageStatus.PENDING)
            return failed

        requeued = await self.store.run(accept)
        for item_id in requeued:
            self._publish(
                ev.MessageStatusChanged(self.account_id, contact_id, item_id, MessageStatus.PENDING)
            )
        self._sender.peer_changed(contact_id)

    async def magic_key(self) -> str:
        key, _expires = await self.api.generate_magic_key()
        return key


def _log_task_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.info("background update failed: %s", type(exc).__name__)

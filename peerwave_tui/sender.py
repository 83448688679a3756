"""The send pipeline: the outbox is the history table; one sender task per server.

Items go out in the order they were written: for each, the peer's devices come from
the cached bundle (fetched only when older than 10 minutes, when a device has no
session, or when the peer had no device with keys yet, because every fetch uses up
one-time prekeys on both sides), one copy per device is encrypted in the store
thread and kept, then emitted with ``sendItem``. The next item waits until every copy
has its ``deliveryReceipt``; copies without one in 15 s, or still open after a
reconnect, are sent again as the same bytes with the same ``itemId`` (receivers
deduplicate). So a conversation's messages reach the server, and the peer, in order.

An item that cannot go out now blocks only the later items of its own peer: a peer
without a keyed device is tried again on its presence or after a while; an unaccepted
identity change fails the item until the user accepts the new key.

When the cached bundle is usable, a new message is encrypted in the same transaction
that writes it (``encrypt_if_ready``): one commit less on the way out. Emitting stays
with the sender task, in order.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import TYPE_CHECKING, Any

from peerwave_tui import events as ev
from peerwave_tui.errors import (
    NetworkError,
    NoRecipientDevicesError,
    NoSessionError,
    PeerwaveError,
    StoreError,
    UntrustedIdentityError,
)
from peerwave_tui.models import MessageStatus
from peerwave_tui.signal import DeviceBundle, KeyManager, TrustEventKind
from peerwave_tui.storage.history import (
    DONE,
    FAILED,
    QUEUED,
    SENT,
    History,
    OutgoingCopy,
    OutgoingItem,
)
from peerwave_tui.storage.tx import transaction
from peerwave_tui.trust import TrustNews, record_trust_events
from peerwave_tui.wire import BundleDevice, DeliveryReceipt

if TYPE_CHECKING:
    from peerwave_tui.client import SignalClient
    from peerwave_tui.receiver import Me

log = logging.getLogger(__name__)

BUNDLE_MAX_AGE_MS = 10 * 60 * 1000
RECEIPT_TIMEOUT = 15.0
NO_DEVICE_RETRY = 60.0  # a peer without keyed devices is asked again this often
RETRY_AFTER_ERROR = (2.0, 60.0)  # first and longest pause after a failed pass

NO_DEVICES_REASON = "The contact has no device that can receive encrypted messages yet."
UNTRUSTED = "untrusted"
NO_DEVICES = "no_devices"


class BlockedError(Exception):
    """This item cannot go out now (no devices, untrusted identity); later items of the
    same peer wait behind it."""


class Sender:
    """Drains one account's outbox while connected."""

    def __init__(self, client: SignalClient) -> None:
        self._client = client
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._receipts: dict[str, asyncio.Event] = {}
        self._blocked_until: dict[str, float] = {}
        self._stored_waiters: dict[str, asyncio.Future[None]] = {}
        self.receipt_timeout = RECEIPT_TIMEOUT

    def wake(self) -> None:
        self._idle.clear()
        self._wakeup.set()

    def receipt_arrived(self, item_id: str) -> None:
        event = self._receipts.get(item_id)
        if event is not None:
            event.set()

    def connection_lost(self) -> None:
        """Stop waiting for receipts: open copies are sent again after the reconnect."""
        self._idle.clear()
        for event in self._receipts.values():
            event.set()

    def peer_changed(self, user_id: str) -> None:
        """Presence or keys changed for a peer: if its items wait, try them now."""
        if self._blocked_until.pop(user_id, None) is not None:
            self.wake()

    async def wait_stored(self, item_id: str, timeout: float) -> None:
        """Until every copy of ``item_id`` is stored on the server (its receipts)."""
        loop = asyncio.get_running_loop()
        waiter = self._stored_waiters.setdefault(item_id, loop.create_future())
        try:
            state = await self._client.store.run(lambda c: History(c).outgoing(item_id))
            if state is not None and state.state == DONE:
                return
            async with asyncio.timeout(timeout):
                await asyncio.shield(waiter)
        finally:
            self._stored_waiters.pop(item_id, None)

    def cancel_waiters(self) -> None:
        for waiter in self._stored_waiters.values():
            if not waiter.done():
                waiter.cancel()

    async def on_receipts(self, receipts: list[DeliveryReceipt]) -> None:
        """``deliveryReceipt``s (one per copy): a copy is stored; when all copies of an
        item are, the item is done and its message STORED ("sent")."""
        client = self._client

        def record(conn: Any) -> list[tuple[str, bool, str | None]]:
            """(item, every copy stored now, conversation whose message became STORED)."""
            history = History(conn)
            result = []
            with transaction(conn):
                for r in receipts:
                    complete = history.mark_copy_stored(
                        r.item_id, r.recipient_user_id, r.recipient_device_id
                    )
                    conversation = None
                    if complete and history.set_status(r.item_id, MessageStatus.STORED):
                        message = history.message_by_item(r.item_id)
                        conversation = message.conversation_id if message else None
                    result.append((r.item_id, complete, conversation))
            return result

        for item_id, complete, conversation in await client.store.run(record):
            self.receipt_arrived(item_id)
            waiter = self._stored_waiters.get(item_id)
            if complete and waiter is not None and not waiter.done():
                waiter.set_result(None)
            if conversation is not None:
                client.publish(
                    ev.MessageStatusChanged(
                        client.account_id, conversation, item_id, MessageStatus.STORED
                    )
                )

    async def wait_idle(self, timeout: float) -> bool:
        """Until a pass over the outbox ends with nothing left that can go out now."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        client = self._client
        loop = asyncio.get_running_loop()
        pause = RETRY_AFTER_ERROR[0]
        while True:
            await client.wait_connected()
            self._wakeup.clear()
            items, first_copies = await client.store.run(_open_items)
            blocked: set[str] = set()
            interrupted = False
            for index, item in enumerate(items):
                if item.peer in blocked:
                    continue
                until = self._blocked_until.get(item.peer)
                if until is not None and until > loop.time():
                    blocked.add(item.peer)
                    continue
                if not client.is_connected:
                    interrupted = True
                    break
                try:
                    await self._deliver(item, first_copies if index == 0 else None)
                except BlockedError:
                    blocked.add(item.peer)
                    self._blocked_until[item.peer] = loop.time() + NO_DEVICE_RETRY
                except StoreError:
                    raise  # the client stops this account
                except NetworkError as exc:
                    log.info("sending paused: %s", type(exc).__name__)
                    interrupted = True
                    break
                except Exception as exc:  # noqa: BLE001 - one bad item must not stop the rest
                    log.warning("an outgoing item failed (%s)", type(exc).__name__)
                    await self._give_up(item, "This message could not be encrypted.")
            timeout: float | None = None
            if interrupted and client.is_connected:
                timeout, pause = pause, min(pause * 2, RETRY_AFTER_ERROR[1])
            else:
                pause = RETRY_AFTER_ERROR[0]
                if client.is_connected and not self._wakeup.is_set():
                    self._idle.set()  # (a wake during the pass means there is more)
                pending = [t - loop.time() for t in self._blocked_until.values()]
                if blocked and pending:
                    timeout = max(0.5, min(pending))
            try:
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            except TimeoutError:
                pass

    # --- one item ----------------------------------------------------------------

    async def _deliver(self, item: OutgoingItem, copies: list[OutgoingCopy] | None) -> None:
        """Send an item's copies until all are stored. ``copies``: read with the item
        (only for an already encrypted item), else read here."""
        client = self._client
        if item.state == QUEUED:
            await self._encrypt(item)
            copies = None
        if copies is None:
            copies = await client.store.run(lambda c: History(c).copies(item.item_id))
        if not copies:
            return
        receipt = self._receipts.setdefault(item.item_id, asyncio.Event())
        loop = asyncio.get_running_loop()
        try:
            while client.is_connected:
                pending = [c for c in copies if not c.stored]
                if not pending:
                    return
                receipt.clear()
                for copy in pending:
                    await client.socket.send_item(
                        item_id=item.item_id,
                        recipient=copy.recipient,
                        recipient_device_id=copy.recipient_device,
                        type=item.type,
                        payload=copy.payload,
                        cipher_type=copy.cipher_type,
                        original_recipient=item.peer,
                    )
                deadline = loop.time() + self.receipt_timeout
                while client.is_connected and (remaining := deadline - loop.time()) > 0:
                    try:
                        async with asyncio.timeout(remaining):
                            await receipt.wait()
                    except TimeoutError:
                        break
                    receipt.clear()
                    copies = await client.store.run(lambda c: History(c).copies(item.item_id))
                    if all(c.stored for c in copies):
                        return
                copies = await client.store.run(lambda c: History(c).copies(item.item_id))
                if client.is_connected and any(not c.stored for c in copies):
                    log.info("no receipt in time for an item; sending it again")
        finally:
            self._receipts.pop(item.item_id, None)

    async def _encrypt(self, item: OutgoingItem) -> None:
        client = self._client
        devices = await self._devices_for(item.peer)
        me, own = client.me, client.record.client_id
        problem = await client.store.run(
            lambda conn: encrypt_item(conn, item.item_id, devices, me, own)
        )
        if problem is not None:
            self._blocked(item, identity=problem == UNTRUSTED)
            raise BlockedError()

    async def _give_up(self, item: OutgoingItem, detail: str) -> None:
        def fail(conn: Any) -> None:
            with transaction(conn):
                _fail(History(conn), item, detail)

        await self._client.store.run(fail)
        self._tell(item, MessageStatus.FAILED, detail, PeerwaveError(detail))

    def _blocked(self, item: OutgoingItem, *, identity: bool) -> None:
        """Tell the user (and a waiting ``send``) why an item cannot go out now."""
        client = self._client
        if identity:
            error: PeerwaveError = UntrustedIdentityError(item.peer)
            client.publish(ev.IdentityChanged(client.account_id, item.peer))
            self._tell(item, MessageStatus.FAILED, str(error), error)
        else:
            self._tell(
                item,
                MessageStatus.PENDING,
                NO_DEVICES_REASON,
                NoRecipientDevicesError(NO_DEVICES_REASON),
            )

    def _tell(
        self, item: OutgoingItem, status: MessageStatus, detail: str, error: PeerwaveError
    ) -> None:
        client = self._client
        if item.message_id is not None:
            client.publish(
                ev.MessageStatusChanged(client.account_id, item.peer, item.item_id, status, detail)
            )
        waiter = self._stored_waiters.get(item.item_id)
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    async def _devices_for(self, peer: str) -> list[BundleDevice]:
        """The peer's devices (and ours) from the cache, or a fresh bundle when needed."""
        client = self._client
        now = client.now_ms()
        me, own = client.me, client.record.client_id
        devices = await client.store.run(lambda conn: cached_devices(conn, peer, me, own, now))
        if devices is not None:
            return devices
        devices = await client.http(lambda: client.api.prekey_bundle(peer))
        news = await client.store.run(
            lambda conn: process_bundle(conn, peer, devices, me, own, now)
        )
        client.on_trust_news(news)
        return devices


# --- store-thread parts ---------------------------------------------------------------


def _open_items(conn: Any) -> tuple[list[OutgoingItem], list[OutgoingCopy] | None]:
    """The open items in order, and the copies of the first one when it is already
    encrypted (a message encrypted as it was written goes out with no further read;
    later items read theirs when their turn comes, so none is stale)."""
    history = History(conn)
    items = history.open_outgoing()
    if not items or items[0].state != SENT:
        return items, None
    return items, history.copies(items[0].item_id)


def cached_devices(
    conn: Any, peer: str, me: Me, own_client_id: str, now_ms: int
) -> list[BundleDevice] | None:
    """The cached device list of ``peer`` when it can be used as it is: fresh, with a
    keyed device of the peer, and a session with every keyed device. None: fetch."""
    entry = History(conn).cached_bundle(peer)
    if entry is None:
        return None
    devices_raw, fetched_at = entry
    if now_ms - fetched_at > BUNDLE_MAX_AGE_MS:
        return None
    devices = [BundleDevice.from_cache(d) for d in devices_raw]
    keyed = [d for d in devices if d.has_keys and not _is_this_device(d, me, own_client_id)]
    if peer != me.user_id and not any(d.user_id == peer for d in keyed):
        return None  # nobody to send to yet: maybe they have published keys since
    keys = KeyManager(conn)
    if any(not keys.has_session(d.user_id, d.device_id) for d in keyed):
        return None
    return devices


def encrypt_item(
    conn: Any, item_id: str, devices: list[BundleDevice], me: Me, own_client_id: str
) -> str | None:
    """Encrypt one copy of a QUEUED item per target device and keep the copies (state
    SENT) in one transaction; returns why it could not (``UNTRUSTED``,
    ``NO_DEVICES``) or None."""
    history = History(conn)
    keys = KeyManager(conn)
    with transaction(conn):
        current = history.outgoing(item_id)
        if current is None or current.state != QUEUED:
            return None
        peer = current.peer
        try:
            keys.check_can_send(peer)
        except UntrustedIdentityError as exc:
            _fail(history, current, str(exc))
            return UNTRUSTED
        plaintext = _plaintext(history, current)
        copies = []
        for d in devices:
            if not d.has_keys or _is_this_device(d, me, own_client_id):
                continue
            try:
                cipher_type, payload = keys.encrypt(d.user_id, d.device_id, plaintext)
            except (NoSessionError, UntrustedIdentityError) as exc:
                # A device whose bundle was unusable, or one of our own devices with an
                # unaccepted new key: it gets no copy.
                log.info("skipped a device without a usable session (%s)", type(exc).__name__)
                continue
            copies.append(
                (d.user_id, d.device_id, cipher_type, base64.b64encode(payload).decode("ascii"))
            )
        if peer != me.user_id and not any(c[0] == peer for c in copies):
            return NO_DEVICES
        history.save_copies(item_id, copies)
        history.set_outgoing_state(item_id, SENT if copies else DONE)
        if not copies and current.message_id is not None:
            history.set_status(item_id, MessageStatus.STORED)
        return None


def encrypt_if_ready(conn: Any, item_id: str, me: Me, own_client_id: str, now_ms: int) -> None:
    """Encrypt a just-written item at once when nothing needs the network (the cached
    bundle is usable), inside the caller's transaction: one commit less before the
    message goes out. Otherwise (or on any problem) the sender does it as usual."""
    item = History(conn).outgoing(item_id)
    if item is None:
        return
    try:
        devices = cached_devices(conn, item.peer, me, own_client_id, now_ms)
        if devices is None or KeyManager(conn).identities.devices_with_pending_change(item.peer):
            return
        encrypt_item(conn, item_id, devices, me, own_client_id)  # its own savepoint
    except Exception as exc:  # noqa: BLE001 - the message is written; the sender retries
        log.info("early encryption skipped (%s)", type(exc).__name__)


def _is_this_device(device: BundleDevice, me: Me, own_client_id: str) -> bool:
    return device.client_id == own_client_id or (
        device.user_id == me.user_id and device.device_id == me.device_id
    )


def process_bundle(
    conn: Any,
    peer: str,
    devices: list[BundleDevice],
    me: Me,
    own_client_id: str,
    now_ms: int,
) -> TrustNews:
    """Build sessions for new devices, record trust changes and cache the device list.
    A device whose keys were unusable is cached as key-less, so it is not refetched
    (and no copy goes to it) until the cache expires."""
    keys = KeyManager(conn)
    with transaction(conn):
        by_user: dict[str, list[DeviceBundle]] = {}
        for d in devices:
            if d.has_keys and not _is_this_device(d, me, own_client_id):
                by_user.setdefault(d.user_id, []).append(d.to_device_bundle())
        events = []
        for user_id, bundles in by_user.items():
            events.extend(keys.process_bundle(user_id, bundles))
        invalid = {
            (e.user_id, e.device_id) for e in events if e.kind is TrustEventKind.INVALID_BUNDLE
        }
        if invalid:
            log.warning("%d devices in a bundle have unusable keys", len(invalid))
        cache = [
            _keyless(d) if (d.user_id, d.device_id) in invalid else d.to_cache() for d in devices
        ]
        History(conn).cache_bundle(peer, cache, now_ms)
        return record_trust_events(conn, events, me.user_id, now_ms)


def _keyless(device: BundleDevice) -> dict[str, Any]:
    return {
        "clientid": device.client_id,
        "userId": device.user_id,
        "device_id": device.device_id,
        "public_key": None,
        "registration_id": None,
        "signedPreKey": None,
        "preKey": None,
    }


def _plaintext(history: History, item: OutgoingItem) -> bytes:
    if item.plaintext is not None:
        return item.plaintext
    if item.message_id is None:
        return b""
    text = history.message_text(item.message_id)
    return (text or "").encode("utf-8")


def _fail(history: History, item: OutgoingItem, detail: str) -> None:
    history.set_outgoing_state(item.item_id, FAILED, detail)
    if item.message_id is not None:
        history.set_status(item.item_id, MessageStatus.FAILED, detail)


__all__ = ["NO_DEVICES_REASON", "BlockedError", "Sender", "process_bundle"]

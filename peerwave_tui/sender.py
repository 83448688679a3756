"""The send pipeline: the outbox is the history table; one sender task per server.

Items go out in the order they were written: for each, the peer's devices come from
the cached bundle (fetched only when older than 10 minutes or when a device has no
session, because every fetch uses up one-time prekeys on both sides), one copy per
device is encrypted in the store thread and kept, then emitted with ``sendItem``.
The next item waits until every copy has its ``deliveryReceipt``; copies without
one in 15 s, or still open after a reconnect, are sent again as the same bytes with
the same ``itemId`` (receivers deduplicate).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from peerwave_tui.errors import (
    NetworkError,
    NoRecipientDevicesError,
    UntrustedIdentityError,
)
from peerwave_tui.models import MessageStatus
from peerwave_tui.signal import DeviceBundle, KeyManager, TrustEvent
from peerwave_tui.storage.history import DONE, FAILED, QUEUED, SENT, History, OutgoingItem
from peerwave_tui.storage.tx import transaction
from peerwave_tui.wire import BundleDevice

if TYPE_CHECKING:
    from peerwave_tui.client import SignalClient

log = logging.getLogger(__name__)

BUNDLE_MAX_AGE_MS = 10 * 60 * 1000
RECEIPT_TIMEOUT = 15.0
NO_DEVICE_RETRY = 60.0


@dataclass(frozen=True)
class Target:
    user_id: str
    device_id: int


class BlockedError(Exception):
    """This item cannot go out now (no devices, untrusted identity); later items of the
    same peer wait behind it."""


class Sender:
    """Drains one account's outbox while connected."""

    def __init__(self, client: SignalClient) -> None:
        self._client = client
        self._wakeup = asyncio.Event()
        self._receipts: dict[str, asyncio.Event] = {}
        self._blocked_until: dict[str, float] = {}

    def wake(self) -> None:
        self._wakeup.set()

    def receipt_arrived(self, item_id: str) -> None:
        event = self._receipts.get(item_id)
        if event is not None:
            event.set()

    def peer_changed(self, user_id: str) -> None:
        """Presence or trust changed for a peer: try its blocked items again now."""
        self._blocked_until.pop(user_id, None)
        self.wake()

    async def run(self) -> None:
        client = self._client
        loop = asyncio.get_running_loop()
        while True:
            await client.wait_connected()
            self._wakeup.clear()
            items = await client.store.run(lambda c: History(c).open_outgoing())
            blocked: set[str] = set()
            for item in items:
                if item.peer in blocked:
                    continue
                until = self._blocked_until.get(item.peer)
                if until is not None and until > loop.time():
                    blocked.add(item.peer)
                    continue
                if not client.is_connected:
                    break
                try:
                    await self._deliver(item)
                except BlockedError:
                    blocked.add(item.peer)
                    self._blocked_until[item.peer] = loop.time() + NO_DEVICE_RETRY
                except NetworkError as exc:
                    log.info("sending paused: %s", type(exc).__name__)
                    break
            try:
                timeout = RECEIPT_TIMEOUT if blocked else None
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                pass

    # --- one item ----------------------------------------------------------------

    async def _deliver(self, item: OutgoingItem) -> None:
        client = self._client
        if item.state == QUEUED:
            await self._encrypt(item)
        copies = await client.store.run(lambda c: History(c).copies(item.item_id))
        if not copies:
            return
        receipt = self._receipts.setdefault(item.item_id, asyncio.Event())
        try:
            while True:
                pending = [c for c in copies if not c.stored]
                if not pending:
                    break
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
                deadline = asyncio.get_running_loop().time() + RECEIPT_TIMEOUT
                while True:
                    remaining = deadline - asyncio.get_running_loop().time()
                    if remaining <= 0:
                        break
                    try:
                        await asyncio.wait_for(receipt.wait(), remaining)
                    except TimeoutError:
                        break
                    receipt.clear()
                    copies = await client.store.run(lambda c: History(c).copies(item.item_id))
                    if all(c.stored for c in copies):
                        break
                copies = await client.store.run(lambda c: History(c).copies(item.item_id))
                if not client.is_connected:
                    return  # resent after the reconnect
                if any(not c.stored for c in copies):
                    log.info("no receipt in time for an item; sending it again")
        finally:
            self._receipts.pop(item.item_id, None)

    async def _encrypt(self, item: OutgoingItem) -> None:
        client = self._client
        devices = await self._devices_for(item.peer)
        me = client.me

        def encrypt(conn: Any) -> str | None:
            """Encrypt one copy per target device and keep them; returns why it could
            not (``"untrusted"``, ``"no_devices"``) or None."""
            history = History(conn)
            keys = KeyManager(conn)
            with transaction(conn):
                current = history.outgoing(item.item_id)
                if current is None or current.state != QUEUED:
                    return None
                try:
                    keys.check_can_send(item.peer)
                except UntrustedIdentityError as exc:
                    _fail(history, current, str(exc), MessageStatus.FAILED)
                    return "untrusted"
                targets = [
                    Target(d.user_id, d.device_id)
                    for d in devices
                    if d.has_keys
                    and d.client_id != client.record.client_id
                    and not (d.user_id == me.user_id and d.device_id == me.device_id)
                ]
                if item.peer != me.user_id and not any(t.user_id == item.peer for t in targets):
                    return "no_devices"
                plaintext = _plaintext(history, current)
                copies = []
                for target in targets:
                    cipher_type, payload = keys.encrypt(target.user_id, target.device_id, plaintext)
                    copies.append(
                        (
                            target.user_id,
                            target.device_id,
                            cipher_type,
                            base64.b64encode(payload).decode("ascii"),
                        )
                    )
                history.save_copies(item.item_id, copies)
                history.set_outgoing_state(item.item_id, SENT if copies else DONE)
                if not copies and current.message_id is not None:
                    history.set_status(item.item_id, MessageStatus.STORED)
                return None

        problem = await client.store.run(encrypt)
        if problem == "untrusted":
            client.on_send_blocked(item, identity=True)
            raise BlockedError()
        if problem == "no_devices":
            reason = str(
                NoRecipientDevicesError(
                    "The contact has no device that can receive encrypted messages yet."
                )
            )
            client.on_send_blocked(item, identity=False, reason=reason)
            raise BlockedError()

    async def _devices_for(self, peer: str) -> list[BundleDevice]:
        """The peer's devices (and ours) from the cache, or a fresh bundle when needed."""
        client = self._client
        now = client.now_ms()

        def cached(conn: Any) -> list[BundleDevice] | None:
            entry = History(conn).cached_bundle(peer)
            if entry is None:
                return None
            devices_raw, fetched_at = entry
            if now - fetched_at > BUNDLE_MAX_AGE_MS:
                return None
            devices = [BundleDevice.from_cache(d) for d in devices_raw]
            keys = KeyManager(conn)
            me = client.me
            for d in devices:
                if not d.has_keys or (d.user_id == me.user_id and d.device_id == me.device_id):
                    continue
                if not keys.has_session(d.user_id, d.device_id):
                    return None
            return devices

        devices = await client.store.run(cached)
        if devices is not None:
            return devices
        devices = await client.api.prekey_bundle(peer)
        trust_events = await client.store.run(
            lambda conn: _process_bundle(conn, peer, devices, client.me, now)
        )
        client.on_trust_events(peer, trust_events)
        return devices


def _process_bundle(
    conn: Any, peer: str, devices: list[BundleDevice], me: Any, now_ms: int
) -> list[TrustEvent]:
    keys = KeyManager(conn)
    history = History(conn)
    with transaction(conn):
        by_user: dict[str, list[DeviceBundle]] = {}
        for d in devices:
            if not d.has_keys or (d.user_id == me.user_id and d.device_id == me.device_id):
                continue
            by_user.setdefault(d.user_id, []).append(d.to_device_bundle())
        events: list[TrustEvent] = []
        for user_id, bundles in by_user.items():
            events.extend(keys.process_bundle(user_id, bundles))
        history.cache_bundle(peer, [d.to_cache() for d in devices], now_ms)
    return events


def _plaintext(history: History, item: OutgoingItem) -> bytes:
    if item.plaintext is not None:
        return item.plaintext
    if item.message_id is None:
        return b""
    text = history.message_text(item.message_id)
    return (text or "").encode("utf-8")


def _fail(history: History, item: OutgoingItem, detail: str, status: MessageStatus) -> None:
    history.set_outgoing_state(item.item_id, FAILED, detail)
    if item.message_id is not None:
        history.set_status(item.item_id, status, detail)

"""The group send lane: one task per server, next to the 1:1 sender.

For each channel with messages waiting, once per pass: read the member devices,
sync membership (``outbound.sync_membership``: a rotation when someone left), give
our current key's original distribution to every device that lacks it (1:1
encrypted; sessions built from bundles only for members whose devices have none),
then encrypt and emit each message (``sendGroupItem``) and wait for its
``groupItemDelivered`` (15 s, then the same bytes go again with the same itemId: the
server ignores a repeated one and says ``existing``).

Distributions are paced (``DistributionPacer``: at most 25 a minute per server, and a
pause after a 429); a failure (the current PeerWave server answers 500 for an offline
device) leaves the device marked as lacking our key. It gets the key when that member
comes online (``presence:update``), before our next message, or when the pacer allows,
and every retry sends the same sealed bytes (``outbound.SealedDistribution``): a fresh
1:1 encryption per retry would move our chain with that device a step each time. A
member whose bundle lacked keys for a device is not asked again for ``BUNDLE_RETRY``
seconds, or until they come online (bundle fetches cost prekeys and rate limit).
A message never waits for every device to have our key: a device that gets it later
can still read it, because what it gets is the original distribution.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from peerwave_tui import events as ev
from peerwave_tui.errors import (
    ApiError,
    AuthError,
    NetworkError,
    PeerwaveError,
    RateLimitedError,
    StoreError,
)
from peerwave_tui.groups import outbound
from peerwave_tui.groups.tables import DONE, FAILED, GroupOutgoing, GroupTables
from peerwave_tui.models import MessageStatus, ms_to_datetime

if TYPE_CHECKING:
    from peerwave_tui.client import SignalClient
    from peerwave_tui.groups.service import Groups

log = logging.getLogger(__name__)

DISTRIBUTIONS_PER_MINUTE = 25  # per server (the /api/signal limit is 30 a minute)
RECEIPT_TIMEOUT = 15.0
RATE_LIMIT_PAUSE = 60.0  # after a 429 without Retry-After
RETRY_AFTER_ERROR = (2.0, 60.0)
NOT_MEMBER = "You are not a member of this channel (any more)."
BUNDLE_RETRY = 600.0  # seconds before asking again for a bundle that lacked a device
SEALED_KEEP = 24 * 3600.0  # seconds an undelivered sealed distribution is sent again
MAX_SEALED = 10_000


class DistributionPacer:
    """A token bucket: ``per_minute`` distributions a minute, at most that many at once,
    and nothing at all while a server's 429 says to wait."""

    def __init__(
        self,
        per_minute: int = DISTRIBUTIONS_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock()
        self._paused_until = 0.0

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        return now

    def take(self) -> bool:
        now = self._refill()
        if now < self._paused_until or self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def wait_time(self) -> float:
        """Seconds until ``take`` can succeed."""
        now = self._refill()
        pause = max(0.0, self._paused_until - now)
        tokens = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate
        return max(pause, tokens)


class GroupSender:
    def __init__(self, client: SignalClient, groups: Groups) -> None:
        self._client = client
        self._groups = groups
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._delivered: dict[str, asyncio.Event] = {}
        self._stored_waiters: dict[str, asyncio.Future[None]] = {}
        # (channel, user or None for everyone) whose devices still lack our key
        self._redistribute: set[tuple[str, str | None]] = set()
        # (channel, user, device) -> (when made, our key's distribution sealed for it)
        self._sealed: dict[tuple[str, str, int], tuple[float, outbound.SealedDistribution]] = {}
        # user -> (when their bundle was fetched, their devices still without a session)
        self._no_session: dict[str, tuple[float, frozenset[int]]] = {}
        self.pacer = DistributionPacer()
        self.receipt_timeout = RECEIPT_TIMEOUT

    # --- signals from outside ----------------------------------------------------------

    def wake(self) -> None:
        self._idle.clear()
        self._wakeup.set()

    def connection_lost(self) -> None:
        self._idle.clear()
        for event in self._delivered.values():
            event.set()

    def redistribute(self, channel_id: str, user_id: str | None = None) -> None:
        self._redistribute.add((channel_id, user_id))
        self.wake()

    def settled(self, item_id: str, error: PeerwaveError | None = None) -> None:
        """The server stored the item (or it failed): stop waiting for it."""
        event = self._delivered.get(item_id)
        if event is not None:
            event.set()
        waiter = self._stored_waiters.get(item_id)
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    async def wait_stored(self, item_id: str, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._stored_waiters.setdefault(item_id, loop.create_future())
        try:
            item = await self._client.store.run(lambda c: GroupTables(c).outgoing(item_id))
            if item is not None and item.state == DONE:
                return
            if item is not None and item.state == FAILED:
                raise PeerwaveError("The message could not be sent to the channel.")
            async with asyncio.timeout(timeout):
                await asyncio.shield(waiter)
        finally:
            self._stored_waiters.pop(item_id, None)

    async def wait_idle(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def cancel_waiters(self) -> None:
        for waiter in self._stored_waiters.values():
            if not waiter.done():
                waiter.cancel()

    # --- the lane ----------------------------------------------------------------------

    async def run(self) -> None:
        client = self._client
        pause = RETRY_AFTER_ERROR[0]
        while True:
            await client.wait_connected()
            self._wakeup.clear()
            timeout: float | None = None
            try:
                await self._pass()
            except StoreError:
                raise  # the client stops this account
            except NetworkError as exc:
                log.info("group sending paused: %s", type(exc).__name__)
                if client.is_connected:
                    timeout, pause = pause, min(pause * 2, RETRY_AFTER_ERROR[1])
            else:
                pause = RETRY_AFTER_ERROR[0]
                if self._redistribute:
                    timeout = max(0.5, self.pacer.wait_time())
                elif client.is_connected and not self._wakeup.is_set():
                    self._idle.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()

    async def _pass(self) -> None:
        client = self._client
        items = await client.store.run(lambda c: GroupTables(c).open_outgoing())
        channels = list(dict.fromkeys(item.channel_id for item in items))
        for channel_id in channels:
            if not client.is_connected:
                return
            if not await self._prepare(channel_id):
                continue
            for item in (i for i in items if i.channel_id == channel_id):
                if not client.is_connected:
                    return
                try:
                    await self._deliver(item)
                except (NetworkError, StoreError):
                    raise
                except Exception as exc:  # noqa: BLE001 - one bad item must not stop the rest
                    log.warning("a group item failed (%s)", type(exc).__name__)
                    await self._groups.fail([item.item_id], "This message could not be encrypted.")
        for channel_id, user_id in sorted(self._redistribute, key=lambda t: (t[0], t[1] or "")):
            self._redistribute.discard((channel_id, user_id))
            found = await client.store.run(
                partial(
                    outbound.lacking_devices, channel_id=channel_id, user_id=user_id, me=client.me
                )
            )
            if found is not None:
                await self._distribute(channel_id, found[1], found[0])

    async def _prepare(self, channel_id: str) -> bool:
        """Membership and our key's distribution before sending; False when we are
        not a member (its waiting items fail)."""
        client = self._client
        try:
            devices = await client.http(lambda: client.api.channel_member_devices(channel_id))
        except ApiError as exc:
            if isinstance(exc, AuthError) or exc.status not in (403, 404):
                raise
            await self._groups.no_longer_member(channel_id)
            return False
        me, now = client.me, client.now_ms()
        plan = await client.store.run(
            lambda c: outbound.sync_membership(c, channel_id, devices, me, now)
        )
        if plan.count_changed or plan.rotated:
            client.schedule_conversation_update(channel_id)
        await self._distribute(channel_id, plan.lacking, plan.generation)
        return True

    async def _distribute(
        self, channel_id: str, targets: list[tuple[str, int]], generation: int
    ) -> None:
        if not targets:
            return
        client = self._client
        await self._build_sessions(targets)
        for user_id, device_id in targets:
            if self.pacer.wait_time() > 0:
                self._redistribute.add((channel_id, None))  # the rest when the pacer allows
                return
            slot = (channel_id, user_id, device_id)
            sealed = await client.store.run(
                partial(
                    outbound.encrypt_distribution,
                    channel_id=channel_id,
                    user_id=user_id,
                    device_id=device_id,
                    generation=generation,
                    reuse=self._kept_sealed(slot),
                )
            )
            if sealed is None:
                self._sealed.pop(slot, None)
                continue  # no session or an unaccepted key: no request spent on it
            self._keep_sealed(slot, sealed)
            self.pacer.take()
            try:
                await client.http(
                    partial(
                        client.api.distribute_sender_key,
                        channel_id,
                        user_id,
                        device_id,
                        sealed.ciphertext,
                        sealed.message_type,
                    )
                )
            except RateLimitedError as exc:
                self.pacer.pause(exc.retry_after if exc.retry_after else RATE_LIMIT_PAUSE)
                self._redistribute.add((channel_id, None))
                return
            except ApiError as exc:
                if isinstance(exc, AuthError):
                    raise
                # The PeerWave server answers 500 for an offline device: it stays
                # marked as lacking our key and gets it (these same bytes) when it
                # comes online.
                log.info("a sender key distribution was not delivered (%s)", exc.status)
                continue
            self._sealed.pop(slot, None)
            await client.store.run(
                partial(
                    outbound.mark_distributed,
                    channel_id=channel_id,
                    user_id=user_id,
                    device_id=device_id,
                    generation=generation,
                )
            )

    def _kept_sealed(self, slot: tuple[str, str, int]) -> outbound.SealedDistribution | None:
        kept = self._sealed.get(slot)
        if kept is None:
            return None
        if time.monotonic() - kept[0] > SEALED_KEEP:
            del self._sealed[slot]
            return None
        return kept[1]

    def _keep_sealed(self, slot: tuple[str, str, int], sealed: outbound.SealedDistribution) -> None:
        kept = self._sealed.get(slot)
        if kept is not None and kept[1] is sealed:
            return
        if len(self._sealed) >= MAX_SEALED:  # bounded: the oldest goes
            del self._sealed[min(self._sealed, key=lambda k: self._sealed[k][0])]
        self._sealed[slot] = (time.monotonic(), sealed)

    async def _build_sessions(self, targets: list[tuple[str, int]]) -> None:
        """Sessions from bundles for the members whose target devices have none. A
        member whose bundle had no keys for those devices a moment ago is not asked
        again for ``BUNDLE_RETRY`` seconds (or until they come online): every bundle
        fetch costs requests under a tight rate limit and, on the PeerWave server,
        one-time prekeys of their devices and of ours (protocol.md §9)."""
        client = self._client
        missing = await client.store.run(lambda c: outbound.devices_without_session(c, targets))
        if not missing:
            return
        now = time.monotonic()
        wanted: dict[str, set[int]] = {}
        for user_id, device_id in missing:
            wanted.setdefault(user_id, set()).add(device_id)
        asked = []
        for user_id, devices in sorted(wanted.items()):
            tried = self._no_session.get(user_id)
            if tried is not None and now - tried[0] < BUNDLE_RETRY and devices <= tried[1]:
                continue
            asked.append(user_id)
            try:
                await client.refresh_devices(user_id)  # builds sessions (trust checked)
            except ApiError as exc:
                if isinstance(exc, AuthError):
                    raise
                log.info("no bundle for a channel member (%s)", type(exc).__name__)
        if not asked:
            return
        still = await client.store.run(
            lambda c: outbound.devices_without_session(
                c, [(u, d) for u, d in missing if u in asked]
            )
        )
        for user_id in asked:
            left = frozenset(d for u, d in still if u == user_id)
            if left:
                self._no_session[user_id] = (now, left)
            else:
                self._no_session.pop(user_id, None)

    def member_online(self, user_id: str) -> None:
        """A member came online: a device of theirs may have keys now."""
        self._no_session.pop(user_id, None)

    async def _deliver(self, item: GroupOutgoing) -> None:
        client = self._client
        ready = await client.store.run(lambda c: outbound.encrypt_group_item(c, item.item_id))
        if ready is None or ready.payload is None:
            return
        delivered = self._delivered.setdefault(item.item_id, asyncio.Event())
        try:
            while client.is_connected:
                delivered.clear()
                await client.socket.send_group_item(
                    channel_id=ready.channel_id,
                    item_id=ready.item_id,
                    payload=ready.payload,
                    timestamp=ms_to_datetime(ready.created_at),
                )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.receipt_timeout):
                        await delivered.wait()
                state = await client.store.run(lambda c: GroupTables(c).outgoing(item.item_id))
                if state is None or state.state in (DONE, FAILED):
                    return
                if client.is_connected:
                    log.info("no groupItemDelivered in time; sending the item again")
        finally:
            self._delivered.pop(item.item_id, None)

    # --- answers from the server ---------------------------------------------------------

    async def on_delivered(self, item_id: str) -> None:
        client = self._client
        result = await client.store.run(lambda c: outbound.mark_delivered(c, item_id))
        self.settled(item_id)
        if result is None:
            return
        channel_id, changed, mark_own = result
        if changed:
            client.publish(
                ev.MessageStatusChanged(
                    client.account_id, channel_id, item_id, MessageStatus.STORED
                )
            )
        if mark_own:
            # Our own item sits in our pending list until we mark it read (§6.4).
            await self._groups.mark_read_on_server([item_id])

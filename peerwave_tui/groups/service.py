"""``Groups``: everything about channels for one ``SignalClient``.

The client's consumer task hands it the group events in arrival order (so a
distribution is decrypted in order with every other 1:1 message), the pending drain
hands it nothing directly (``receiver`` processes pending group items in the same
batch as 1:1 items), and the manager's channel calls end up here.

Reading: the server deletes a group item only once every member marked it read, and
its pending list returns our unread group items until we do. We mark an item read
when the user has seen it (the open conversation in the app, or ``receive --read``),
and at once when there is nothing to read (our own items after the server stored
them, our other devices' items, items we drop). A mark that gets lost heals itself:
the item comes again with the next pending fetch and is marked then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

from peerwave_tui import events as ev
from peerwave_tui.errors import ApiError, NetworkError, PeerwaveError, RateLimitedError, UsageError
from peerwave_tui.groups import channels, outbound
from peerwave_tui.groups.inbound import (
    DistributionGate,
    GroupResult,
    Released,
    expire_held,
    process_group_item,
    process_live_distribution,
)
from peerwave_tui.groups.sender import NOT_MEMBER, GroupSender
from peerwave_tui.groups.tables import GroupTables
from peerwave_tui.models import (
    ChatMessage,
    ConversationKind,
    MessageStatus,
    ms_to_datetime,
)
from peerwave_tui.signal import TrustEvent, TrustEventKind
from peerwave_tui.storage.history import History
from peerwave_tui.storage.tx import transaction
from peerwave_tui.wire import (
    GroupItem,
    GroupItemDelivered,
    GroupItemError,
    GroupItemReadUpdate,
    PresenceUpdate,
    SenderKeyDistribution,
)

if TYPE_CHECKING:
    from peerwave_tui.client import SignalClient

log = logging.getLogger(__name__)

HISTORY_EVERY_MS = 6 * 3600 * 1000  # the history endpoint is a fallback: rarely
HISTORY_LIMIT = 100
OUTBOX_KEEP_MS = 24 * 3600 * 1000


class Groups:
    def __init__(self, client: SignalClient) -> None:
        self._client = client
        self.gate = DistributionGate()
        self.sender = GroupSender(client, self)
        self._learning: asyncio.Task[Any] | None = None

    # --- lifecycle ---------------------------------------------------------------------

    async def run_sender(self) -> None:
        await self.sender.run()

    def connection_lost(self) -> None:
        self.sender.connection_lost()

    def cancel_waiters(self) -> None:
        self.sender.cancel_waiters()

    async def after_connect(self) -> None:
        """After each connect's drain, in the background: our channels and member
        counts, held items past their time, and the history fallback."""
        try:
            await channels.refresh_channels(self._client, counts=True)
        except PeerwaveError as exc:
            log.info("channel refresh failed: %s", type(exc).__name__)
        await self.expire_held()
        await self.catch_up()

    async def upkeep(self) -> None:
        """Hourly: held items past 24 hours; finished group outbox rows."""
        await self.expire_held()
        cutoff = self._client.now_ms() - OUTBOX_KEEP_MS
        await self._client.store.run(lambda c: _prune(c, cutoff))

    # --- inbound events ------------------------------------------------------------------

    async def on_group_items(self, items: list[GroupItem], *, live: bool = True) -> None:
        client = self._client
        me, now = client.me, client.now_ms()

        def batch(conn: Any) -> list[GroupResult]:
            history = History(conn)
            with transaction(conn):
                history.defer_touches()
                results = [process_group_item(history, i, me, now, live=live) for i in items]
                history.flush_touches()
            return results

        results = await client.store.run(batch)
        released = Released(
            messages=[r.message for r in results if r.message is not None],
            mark_read=[r.item_id for r in results if r.mark_read],
            nameless=set().union(*(r.nameless for r in results)),
        )
        for result in results:
            if result.new_channel:
                self.channel_seen(result.channel_id)
        await self._tell(released)

    async def on_distribution(self, dist: SenderKeyDistribution) -> None:
        client = self._client
        me, now = client.me, client.now_ms()
        result = await client.store.run(
            lambda c: process_live_distribution(c, dist, me, now, self.gate)
        )
        client.on_trust_news(result.trust)  # identity changes reach on_trust_events too
        await self._tell(result.released)

    async def on_trust_events(self, events: list[TrustEvent]) -> None:
        """A member device with a new identity key was reinstalled at the same device
        id (protocol.md §1): it lost our sender keys with its old install, and gets
        them again like a new device (once the new key is accepted, if it must be).
        The member-device list cannot tell: the device id did not change."""
        changed = sorted(
            {(e.user_id, e.device_id) for e in events if e.kind is TrustEventKind.IDENTITY_CHANGED}
        )
        for user_id, device_id in changed:

            def forget(conn: Any, user_id: str = user_id, device_id: int = device_id) -> list[str]:
                with transaction(conn):
                    return GroupTables(conn).forget_holder(user_id, device_id)

            for channel_id in await self._client.store.run(forget):
                self.sender.redistribute(channel_id, user_id)

    async def on_delivered(self, notice: GroupItemDelivered) -> None:
        await self.sender.on_delivered(notice.item_id)

    async def on_error(self, error: GroupItemError) -> None:
        """The server refused a group item. Without an itemId (the PeerWave server's
        way) every unconfirmed one is failed, and our channel list is read again."""
        detail = f"The server refused the message: {error.error}"
        ids = [error.item_id] if error.item_id else None
        failed = await self.fail(ids, detail)
        if failed or ids is None:
            self._client.spawn(self._reload_channels())

    async def _reload_channels(self) -> None:
        try:
            await channels.refresh_channels(self._client, counts=True)
        except PeerwaveError as exc:
            log.info("channel refresh failed: %s", type(exc).__name__)

    async def on_read_update(self, update: GroupItemReadUpdate) -> None:
        client = self._client
        me = client.me
        changed = await client.store.run(
            lambda c: outbound.record_read(
                c, update.item_id, update.read_by, update.total_members, me
            )
        )
        if changed is not None:
            channel_id, status, detail = changed
            client.publish(
                ev.MessageStatusChanged(
                    client.account_id, channel_id, update.item_id, status, detail
                )
            )

    async def on_presence(self, presence: PresenceUpdate) -> None:
        """A member came online: its devices that lack our key get it now (the
        PeerWave server refuses distributions to offline devices)."""
        if not presence.online:
            return
        user_id = presence.user_id
        self.sender.member_online(user_id)
        lacking = await self._client.store.run(lambda c: GroupTables(c).channels_lacking(user_id))
        for channel_id in lacking:
            self.sender.redistribute(channel_id, user_id)

    async def _tell(self, released: Released) -> None:
        client = self._client
        if released.mark_read:
            await self.mark_read_on_server(released.mark_read)
        if not released.messages:
            return
        await self._learn_names(released)
        touched: set[str] = set()
        for message in released.messages:
            client.publish(ev.MessageReceived(client.account_id, message))
            touched.add(message.conversation_id)
        for conversation_id in sorted(touched):
            client.schedule_conversation_update(conversation_id)

    async def _learn_names(self, released: Released) -> None:
        names = await self._client.learn_names(released.nameless)
        for message in released.messages:
            if message.sender_name is None:
                message.sender_name = names.get(message.sender_id)

    def channel_seen(self, channel_id: str) -> None:
        """A group item named a channel we did not know: learn its name (one list
        request at a time)."""
        if self._learning is not None and not self._learning.done():
            return
        self._learning = self._client.spawn(self._reload_names())

    async def wait_names(self, timeout: float) -> None:
        """Until a channel-name lookup under way has ended (or ``timeout``)."""
        learning = self._learning
        if learning is not None and not learning.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(learning), timeout)

    async def _reload_names(self) -> None:
        try:
            await channels.refresh_channels(self._client, counts=True)
        except PeerwaveError as exc:
            log.info("channel names unavailable: %s", type(exc).__name__)

    # --- reading ---------------------------------------------------------------------------

    async def mark_read_on_server(self, item_ids: list[str]) -> None:
        """``markGroupItemRead`` for each (no ack exists); offline, they wait for the
        next pending fetch, where the items come again."""
        socket = self._client.socket
        for item_id in dict.fromkeys(item_ids):
            try:
                await socket.mark_group_item_read(item_id)
            except NetworkError:
                return

    async def mark_seen(self, channel_id: str) -> None:
        def seen(conn: Any) -> list[str]:
            history = History(conn)
            with transaction(conn):
                marks = [item_id for item_id, _ in history.mark_conversation_seen(channel_id)]
                marks.extend(GroupTables(conn).take_seen_unmarked(channel_id))
            return marks

        await self.mark_read_on_server(await self._client.store.run(seen))
        self._client.schedule_conversation_update(channel_id)

    async def expire_held(self) -> None:
        now = self._client.now_ms()
        released = await self._client.store.run(lambda c: expire_held(c, now))
        await self._tell(released)

    async def catch_up(self) -> None:
        """The history endpoint as a fallback to the pending list: each channel at most
        every 6 hours, from our join (or the last catch-up) on."""
        client = self._client
        now = client.now_ms()
        rows = await client.store.run(lambda c: GroupTables(c).channels())
        for row in rows:
            synced = row.history_synced_at
            if synced is not None and now - synced < HISTORY_EVERY_MS:
                continue
            since = ms_to_datetime(max(row.joined_at, (synced or 0) - 60_000))
            try:
                items = await client.http(
                    partial(client.api.group_items, row.channel_id, since, HISTORY_LIMIT)
                )
            except RateLimitedError:
                return
            except ApiError as exc:
                log.info("group history unavailable (%s)", exc.status)
                continue
            except NetworkError:
                return
            mine = [i for i in items if i.channel_id == row.channel_id]
            if mine:
                await self.on_group_items(mine, live=False)
            await client.store.run(partial(_history_synced, channel_id=row.channel_id, now_ms=now))

    # --- sending ---------------------------------------------------------------------------

    async def is_group(self, conversation_id: str) -> bool:
        row = await self._client.store.run(lambda c: GroupTables(c).channel(conversation_id))
        return row is not None

    async def send_text(self, channel_id: str, text: str) -> ChatMessage:
        client = self._client
        item_id = str(uuid.uuid4())
        me, now = client.me, client.now_ms()

        def write(conn: Any) -> ChatMessage:
            tables = GroupTables(conn)
            history = History(conn)
            with transaction(conn):
                row = tables.channel(channel_id)
                if row is None or row.left_at is not None:
                    raise UsageError(NOT_MEMBER)
                message = history.insert_own_text(
                    conversation_id=channel_id,
                    conversation_kind=ConversationKind.GROUP,
                    item_id=item_id,
                    sender=me.user_id,
                    sender_device=me.device_id,
                    text=text,
                    created_at=now,
                )
                tables.enqueue(item_id, channel_id, message.local_id, now)
            return message

        message = await client.store.run(write)
        client.publish(ev.MessageAdded(client.account_id, message))
        self.sender.wake()
        return message

    async def retry(self, item_id: str) -> bool:
        channel_id = await self._client.store.run(lambda c: outbound.requeue(c, item_id))
        if channel_id is None:
            return False
        client = self._client
        client.publish(
            ev.MessageStatusChanged(client.account_id, channel_id, item_id, MessageStatus.PENDING)
        )
        self.sender.wake()
        return True

    async def fail(self, item_ids: list[str] | None, detail: str) -> list[tuple[str, str]]:
        client = self._client
        failed = await client.store.run(lambda c: outbound.fail_items(c, item_ids, detail))
        for item_id, channel_id in failed:
            client.publish(
                ev.MessageStatusChanged(
                    client.account_id, channel_id, item_id, MessageStatus.FAILED, detail
                )
            )
            self.sender.settled(item_id, PeerwaveError(detail))
        return failed

    async def no_longer_member(self, channel_id: str) -> None:
        """We left (or the server says we are not a member): the channel stays as
        history, its waiting messages fail."""
        client = self._client
        now = client.now_ms()

        def left(conn: Any) -> list[str]:
            tables = GroupTables(conn)
            with transaction(conn):
                tables.set_left(channel_id, now)
                return [o.item_id for o in tables.open_outgoing() if o.channel_id == channel_id]

        waiting = await client.store.run(left)
        await self.fail(waiting, NOT_MEMBER)
        client.schedule_conversation_update(channel_id)


def _history_synced(conn: Any, channel_id: str, now_ms: int) -> None:
    GroupTables(conn).set_history_synced(channel_id, now_ms)


def _prune(conn: Any, before_ms: int) -> int:
    with transaction(conn):
        return GroupTables(conn).prune_outbox(before_ms)


__all__ = ["Groups"]

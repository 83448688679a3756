"""SocketService against the real dev server: two devices exchanging items, receipts,
deletes, pending pagination, events held until clientReady, groups, presence,
refused authentication, and reconnecting after the server process dies."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from peerwave_tui.errors import LoggedOutError
from peerwave_tui.models import ConnectionState
from peerwave_tui.socket import CONNECTED, PRESENCE, STOPPED, SocketService, SocketSession
from peerwave_tui.wire import (
    DeliveryReceipt,
    GroupItem,
    GroupItemDelivered,
    GroupItemReadUpdate,
    IncomingItem,
    PendingAvailable,
    PresenceUpdate,
    SenderKeyDistribution,
)
from tests.client.devserver_accounts import ClientAccount, register_and_login
from tests.client.socket_helpers import EventReader, StateLog
from tests.devserver_fixtures import DevServerProcess, RunningDevServer, running_devserver


@pytest.fixture
async def devserver(tmp_path: Path) -> AsyncIterator[RunningDevServer]:
    async with running_devserver(tmp_path) as server:
        yield server


@pytest.fixture
async def accounts(
    devserver: RunningDevServer,
) -> AsyncIterator[tuple[ClientAccount, ClientAccount]]:
    alice = await register_and_login(devserver.url, devserver, name="alice")
    bob = await register_and_login(devserver.url, devserver, name="bob")
    try:
        yield alice, bob
    finally:
        await alice.api.aclose()
        await bob.api.aclose()


class Device:
    """One account's SocketService plus a reader of its events."""

    def __init__(self, url: str, account: ClientAccount, **kwargs: Any) -> None:
        kwargs.setdefault("backoff_base", 0.05)
        kwargs.setdefault("backoff_cap", 0.5)
        self.account = account
        self.states = StateLog()
        self.service = SocketService(
            url, lambda: account.credentials, on_state=self.states, **kwargs
        )
        self.reader = EventReader(self.service)

    async def start(self) -> SocketSession:
        await self.service.start()
        session: SocketSession = await self.reader.until(CONNECTED)
        return session

    async def close(self) -> None:
        await self.reader.aclose()
        await self.service.stop()


def payload() -> str:
    return base64.b64encode(os.urandom(48)).decode()


async def send(sender: Device, recipient: ClientAccount, device_id: int, item_id: str) -> None:
    await sender.service.send_item(
        item_id=item_id,
        recipient=recipient.user_id,
        recipient_device_id=device_id,
        type="message",
        payload=payload(),
        cipher_type=3,
        original_recipient=recipient.user_id,
    )


async def test_two_devices_exchange_items_receipts_and_deletes(
    devserver: RunningDevServer, accounts: tuple[ClientAccount, ClientAccount]
) -> None:
    alice_acc, bob_acc = accounts
    alice, bob = Device(devserver.url, alice_acc), Device(devserver.url, bob_acc)
    try:
        a_session, b_session = await asyncio.gather(alice.start(), bob.start())
        assert a_session.user_id == alice_acc.user_id and b_session.user_id == bob_acc.user_id
        assert bob.service.device_id == b_session.device_id >= 1
        item_id = str(uuid.uuid4())
        await send(alice, bob_acc, b_session.device_id, item_id)
        receipt = await alice.reader.until("deliveryReceipt")
        assert isinstance(receipt, DeliveryReceipt) and receipt.item_id == item_id
        assert receipt.recipient_device_id == b_session.device_id
        item = await bob.reader.until("receiveItem")
        assert isinstance(item, IncomingItem)
        assert (item.item_id, item.sender, item.sender_device_id) == (
            item_id,
            alice_acc.user_id,
            a_session.device_id,
        )
        assert item.original_recipient == bob_acc.user_id and item.timestamp is None
        first = await bob.service.delete_item(item_id)
        second = await bob.service.delete_item(item_id)
        assert (first.deleted_count, second.deleted_count) == (1, 0) and second.success
        page = await bob.service.fetch_pending(50, 0)
        assert page.items == ()
    finally:
        await asyncio.gather(alice.close(), bob.close())


async def test_pending_pagination_with_deletes(
    devserver: RunningDevServer, accounts: tuple[ClientAccount, ClientAccount]
) -> None:
    alice_acc, bob_acc = accounts
    alice = Device(devserver.url, alice_acc)
    bob_device_id = await _device_id_of(devserver, bob_acc)
    sent = [f"item-{n}-{uuid.uuid4()}" for n in range(7)]
    try:
        await alice.start()
        for item_id in sent:  # bob is offline: everything is stored
            await send(alice, bob_acc, bob_device_id, item_id)
        for _ in sent:
            await alice.reader.until("deliveryReceipt")
    finally:
        await alice.close()

    bob = Device(devserver.url, bob_acc)
    try:
        await bob.start()
        notice = await bob.reader.until("pendingMessagesAvailable")
        assert isinstance(notice, PendingAvailable) and notice.count == len(sent)
        received: list[str] = []
        offset = 0
        while True:  # protocol.md §5.5, with everything processed and deleted
            page = await bob.service.fetch_pending(3, offset)
            assert page.offset == offset
            received.extend(i.item_id for i in page.items)
            await asyncio.gather(*[bob.service.delete_item(i.item_id) for i in page.items])
            if not page.has_more or not page.items:
                break
            offset += 0  # nothing remains: every item of the page was deleted
        assert received == sent  # oldest first, none skipped, none twice
    finally:
        await bob.close()


async def _device_id_of(devserver: RunningDevServer, account: ClientAccount) -> int:
    bundle = await account.api.prekey_bundle(account.user_id)
    return next(d.device_id for d in bundle if d.client_id == account.credentials.client_id)


async def test_events_are_held_until_client_ready_except_sender_keys(
    devserver: RunningDevServer, accounts: tuple[ClientAccount, ClientAccount]
) -> None:
    alice_acc, bob_acc = accounts
    gate = asyncio.Event()
    authenticated = asyncio.Event()

    async def hold_ready(_session: SocketSession) -> None:
        authenticated.set()
        await gate.wait()

    alice = Device(devserver.url, alice_acc)
    bob = Device(devserver.url, bob_acc, ready_gate=hold_ready)
    try:
        a_session = await alice.start()
        await bob.service.start()
        await asyncio.wait_for(authenticated.wait(), 20)
        b_device = bob.service.device_id
        assert b_device is not None and bob.service.state is ConnectionState.CONNECTING
        item_id = str(uuid.uuid4())
        await send(alice, bob_acc, b_device, item_id)
        await alice.reader.until("deliveryReceipt")
        channel = await alice_acc.api.create_channel(f"c-{uuid.uuid4().hex[:6]}", "", private=False)
        await bob_acc.api.join_channel(channel.channel_id)
        delivered = await alice_acc.api.distribute_sender_key(
            channel.channel_id, bob_acc.user_id, b_device, os.urandom(64), 3
        )
        assert delivered is True  # an authenticated socket counts as online
        name, skd = await bob.reader.next()  # arrives while clientReady is still held back
        assert name == "receiveSenderKeyDistribution" and isinstance(skd, SenderKeyDistribution)
        assert (skd.group_id, skd.sender_id, skd.sender_device_id) == (
            channel.channel_id,
            alice_acc.user_id,
            a_session.device_id,
        )
        await asyncio.sleep(0.3)
        assert bob.service.backlog == 0  # the item is held by the server
        gate.set()
        assert (await bob.reader.next())[0] == CONNECTED
        item = await bob.reader.until("receiveItem")
        assert item.item_id == item_id
    finally:
        gate.set()
        await asyncio.gather(alice.close(), bob.close())


async def test_group_items_reads_and_presence(
    devserver: RunningDevServer, accounts: tuple[ClientAccount, ClientAccount]
) -> None:
    alice_acc, bob_acc = accounts
    channel = await alice_acc.api.create_channel(f"g-{uuid.uuid4().hex[:6]}", "", private=False)
    await bob_acc.api.join_channel(channel.channel_id)
    alice, bob = Device(devserver.url, alice_acc), Device(devserver.url, bob_acc)
    try:
        a_session = await alice.start()
        await bob.start()
        online = await alice.reader.until(PRESENCE)
        while online.user_id != bob_acc.user_id:
            online = await alice.reader.until(PRESENCE)
        assert isinstance(online, PresenceUpdate) and online.online
        item_id = str(uuid.uuid4())
        await alice.service.send_group_item(
            channel_id=channel.channel_id, item_id=item_id, payload=payload()
        )
        delivered = await alice.reader.until("groupItemDelivered")
        assert isinstance(delivered, GroupItemDelivered) and delivered.item_id == item_id
        group_item = await bob.reader.until("groupItem")
        assert isinstance(group_item, GroupItem) and group_item.channel_id == channel.channel_id
        assert (group_item.sender, group_item.sender_device) == (
            alice_acc.user_id,
            a_session.device_id,
        )
        await bob.service.mark_group_item_read(item_id)
        update = await alice.reader.until("groupItemReadUpdate")
        assert isinstance(update, GroupItemReadUpdate) and update.read_by == bob_acc.user_id
        assert (update.read_count, update.total_members, update.all_read) == (1, 2, False)
        history = await alice_acc.api.group_items(channel.channel_id)
        assert [g.item_id for g in history] == [item_id]
        await alice.service.send_group_item(
            channel_id=channel.channel_id, item_id=item_id, payload=payload()
        )
        again = await alice.reader.until("groupItemDelivered")
        assert again.existing
        await bob.close()
        offline = await alice.reader.until(PRESENCE)
        while offline.user_id != bob_acc.user_id:
            offline = await alice.reader.until(PRESENCE)
        assert not offline.online
    finally:
        await asyncio.gather(alice.close(), bob.close())


async def test_revoked_session_stops_the_socket_and_says_why(
    devserver: RunningDevServer, accounts: tuple[ClientAccount, ClientAccount]
) -> None:
    alice_acc, _bob = accounts
    await alice_acc.api.revoke_session(alice_acc.credentials.client_id)
    alice = Device(devserver.url, alice_acc)
    try:
        await alice.service.start()
        error = await alice.reader.until(STOPPED)
        assert isinstance(error, LoggedOutError) and error.code == "no_session"
        await alice.states.wait_for(ConnectionState.ERROR)
        assert "logged out" in (alice.service.state_detail or "")
        assert not alice.service.running
    finally:
        await alice.close()


async def test_reconnects_after_the_server_is_killed_and_restarted(tmp_path: Path) -> None:
    async with DevServerProcess(tmp_path / "srv") as proc:
        await proc.start()
        alice_acc = await register_and_login(proc.url, proc, name="alice")
        bob_acc = await register_and_login(proc.url, proc, name="bob")
        alice = Device(proc.url, alice_acc, backoff_base=0.2, backoff_cap=1.0)
        bob = Device(proc.url, bob_acc, backoff_base=0.2, backoff_cap=1.0)
        try:
            await asyncio.gather(alice.start(), bob.start())
            proc.kill()
            # first "lost" at once, then "retrying at ..." with the time for a countdown
            await alice.states.wait_for(ConnectionState.OFFLINE, count=2, timeout=60)
            lost, retrying = alice.states.of(ConnectionState.OFFLINE)[:2]
            assert lost[2] is None and retrying[2] is not None
            await asyncio.sleep(1.0)  # a few failed attempts while it is down
            await proc.restart()
            await alice.reader.until(CONNECTED, timeout=60)
            b_session = await bob.reader.until(CONNECTED, timeout=60)
            item_id = str(uuid.uuid4())
            await send(alice, bob_acc, b_session.device_id, item_id)
            assert (await bob.reader.until("receiveItem")).item_id == item_id
            assert alice.service.stats.connects == 2
        finally:
            await asyncio.gather(alice.close(), bob.close())
            await alice_acc.api.aclose()
            await bob_acc.api.aclose()

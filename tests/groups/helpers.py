"""Helpers for the group tests: members as real managers (their own homes, real
SQLCipher stores, real sockets to a dev server on 127.0.0.1), waiting for what they
receive."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peerwave_tui import events as ev
from peerwave_tui.client import SignalClient
from peerwave_tui.groups.tables import GroupTables
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import AccountRecord, ChatMessage, KeyMode, MessageStatus
from tests.integration.helpers import EventLog, connected, new_manager


@dataclass
class Member:
    """One device of a user: its manager, its event log and its account."""

    name: str
    manager: SignalClientManager
    log: EventLog
    account: AccountRecord

    @property
    def account_id(self) -> str:
        return self.account.account_id

    @property
    def user_id(self) -> str:
        assert self.account.user_id is not None
        return self.account.user_id

    @property
    def client(self) -> SignalClient:
        return self.manager.client(self.account_id)

    async def texts(self, channel_id: str) -> list[str]:
        messages = await self.manager.messages(self.account_id, channel_id, limit=500)
        return [m.text for m in messages if m.kind.value == "message"]

    async def wait_text(self, text: str, timeout: float = 60.0) -> ChatMessage:
        event = await self.log.wait_for(
            lambda e: (
                isinstance(e, ev.MessageReceived)
                and e.account_id == self.account_id
                and e.message.text == text
            ),
            timeout,
        )
        assert isinstance(event, ev.MessageReceived)
        return event.message

    async def wait_status(
        self, item_id: str, status: MessageStatus, timeout: float = 60.0
    ) -> ev.MessageStatusChanged:
        event = await self.log.wait_for(
            lambda e: (
                isinstance(e, ev.MessageStatusChanged)
                and e.item_id == item_id
                and e.status is status
            ),
            timeout,
        )
        assert isinstance(event, ev.MessageStatusChanged)
        return event

    async def wait_connected(self, timeout: float = 60.0, after: int = 0) -> None:
        await self.log.wait_for(connected(self.account_id), timeout, after=after)

    async def close(self) -> None:
        await self.log.close()
        await self.manager.aclose()


async def register_member(
    home: Path, server: Any, name: str, mode: KeyMode = KeyMode.MEMORY
) -> Member:
    manager = new_manager(home, mode)
    log = EventLog(manager)
    email = f"{name.lower()}@example.org"
    pending = await manager.register_start(server.url, email)
    result = await manager.register_finish(pending, await server.read_otp(email), name)
    member = Member(name, manager, log, result.account)
    await member.wait_connected()
    return member


async def link_device(home: Path, first: Member, name: str) -> Member:
    """A second device of ``first``'s user, linked with a magic key."""
    manager = new_manager(home)
    log = EventLog(manager)
    key = await first.manager.magic_key(first.account_id)
    record = await manager.link(key)
    member = Member(name, manager, log, record)
    await member.wait_connected()
    return member


async def reopen(home: Path, name: str) -> Member:
    """A member (passphrase mode) starting again from its saved account."""
    manager = new_manager(home, KeyMode.PASSPHRASE)
    log = EventLog(manager)
    mark = log.mark()
    await manager.start()
    record = manager.accounts()[0]
    member = Member(name, manager, log, record)
    await member.wait_connected(after=mark)
    return member


async def outbox_payload(member: Member, item_id: str) -> str:
    """The SenderKeyMessage (b64) our member emitted for an item."""
    item = await member.client.store.run(lambda c: GroupTables(c).outgoing(item_id))
    assert item is not None and item.payload is not None
    return item.payload


async def until(predicate: Callable[[], Any], what: str, timeout: float = 60.0) -> None:
    """Poll an async or sync predicate (for states no event announces)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


async def close_all(*members: Member | None) -> None:
    for member in members:
        if member is not None:
            await member.close()

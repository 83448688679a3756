"""Helpers for client integration tests: managers with their own homes, accounts made
through the real client code, waiting for events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peerwave_tui import events as ev
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import AccountRecord, KeyMode
from peerwave_tui.paths import Paths
from peerwave_tui.storage.custody import KeyCustody


def new_manager(home: Path, mode: KeyMode = KeyMode.MEMORY) -> SignalClientManager:
    paths = Paths.from_home(home).ensure()
    return SignalClientManager(paths, KeyCustody(paths, mode=mode))


async def register(
    manager: SignalClientManager, server: Any, email: str, name: str
) -> AccountRecord:
    pending = await manager.register_start(server.url, email)
    otp = await server.read_otp(email)
    result = await manager.register_finish(pending, otp, name)
    assert len(result.backup_codes) == 10
    return result.account


class EventLog:
    """Collects a manager's events and waits for the one a test expects."""

    def __init__(self, manager: SignalClientManager) -> None:
        self.events: list[ev.Event] = []
        self._stream = manager.events()
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for event in self._stream:
            self.events.append(event)
            self._changed.set()

    async def wait_for(
        self, predicate: Callable[[ev.Event], bool], timeout: float = 15.0
    ) -> ev.Event:
        async def scan() -> ev.Event:
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def close(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


def received(account_id: str, text: str) -> Callable[[ev.Event], bool]:
    return lambda e: (
        isinstance(e, ev.MessageReceived)
        and e.account_id == account_id
        and e.message.text == text
    )


def connected(account_id: str) -> Callable[[ev.Event], bool]:
    from peerwave_tui.models import ConnectionState

    return lambda e: (
        isinstance(e, ev.ConnectionChanged)
        and e.account_id == account_id
        and e.state is ConnectionState.CONNECTED
    )

"""The measured side: SignalClientManagers in keyring mode, and watching their events.

Every store the benchmarks measure is in keyring mode (its key in the Secret Service
that ``benchmarks.session`` provides), as a user's would be.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from benchmarks.servers import DevServer
from peerwave_tui import events as ev
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import AccountRecord, ConnectionState, KeyMode
from peerwave_tui.paths import Paths
from peerwave_tui.storage.custody import KeyCustody

Predicate = Callable[[ev.Event], bool]


def keyring_manager(home: Path) -> SignalClientManager:
    paths = Paths.from_home(home).ensure()
    return SignalClientManager(paths, KeyCustody(paths, KeyMode.KEYRING))


async def register(manager: SignalClientManager, server: DevServer, name: str) -> AccountRecord:
    """A new account through the client's own registration flow."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@bench.invalid"
    pending = await manager.register_start(server.url, email)
    otp = await server.read_otp(email)
    result = await manager.register_finish(pending, otp, name)
    return result.account


class EventTap:
    """A subscription to a manager's events, stamped with ``perf_counter`` on arrival
    (what a UI subscriber sees, and when)."""

    def __init__(self, manager: SignalClientManager) -> None:
        self.events: list[tuple[float, ev.Event]] = []
        self._stream = manager.events()
        self._changed = asyncio.Event()
        self._watchers: list[Callable[[float, ev.Event], None]] = []
        self._task = asyncio.create_task(self._collect(), name="bench-event-tap")

    async def _collect(self) -> None:
        async for event in self._stream:
            now = time.perf_counter()
            self.events.append((now, event))
            for watcher in list(self._watchers):
                watcher(now, event)
            self._changed.set()

    def watch(self, watcher: Callable[[float, ev.Event], None]) -> None:
        """Call ``watcher(time, event)`` for every event from now on."""
        self._watchers.append(watcher)

    def unwatch(self, watcher: Callable[[float, ev.Event], None]) -> None:
        self._watchers.remove(watcher)

    async def wait_for(self, predicate: Predicate, timeout: float, start: int = 0) -> float:
        """The arrival time of the first event from index ``start`` on that matches."""
        deadline = time.monotonic() + timeout
        seen = start
        while True:
            for stamp, event in self.events[seen:]:
                if predicate(event):
                    return stamp
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching event within {timeout:.0f} s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
            except TimeoutError:
                pass

    def mark(self) -> int:
        return len(self.events)

    async def close(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


def connected(account_id: str) -> Predicate:
    return lambda e: (
        isinstance(e, ev.ConnectionChanged)
        and e.account_id == account_id
        and e.state is ConnectionState.CONNECTED
    )


def drain_done(account_id: str) -> Predicate:
    return lambda e: isinstance(e, ev.BacklogProgress) and e.account_id == account_id and e.done

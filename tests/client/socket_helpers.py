"""Helpers for reading a SocketService's events in tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from peerwave_tui.models import ConnectionState
from peerwave_tui.socket import SocketService


class EventReader:
    """Reads ``service.events()`` with deadlines; remembers what it skipped."""

    def __init__(self, service: SocketService) -> None:
        self.service = service
        self._events: AsyncIterator[tuple[str, Any]] = service.events()
        self.skipped: list[tuple[str, Any]] = []

    async def next(self, timeout: float = 20.0) -> tuple[str, Any]:
        return await asyncio.wait_for(anext(self._events), timeout)

    async def until(self, name: str, timeout: float = 20.0) -> Any:
        async def find() -> Any:
            while True:
                event, payload = await anext(self._events)
                if event == name:
                    return payload
                self.skipped.append((event, payload))

        return await asyncio.wait_for(find(), timeout)

    async def aclose(self) -> None:
        await self._events.aclose()  # type: ignore[attr-defined]


class StateLog:
    """An ``on_state`` callback that records every state change."""

    def __init__(self) -> None:
        self.states: list[tuple[ConnectionState, str | None, Any]] = []
        self._changed = asyncio.Event()

    def __call__(self, state: ConnectionState, detail: str | None, retry_at: Any) -> None:
        self.states.append((state, detail, retry_at))
        self._changed.set()

    async def wait_for(self, state: ConnectionState, count: int = 1, timeout: float = 30.0) -> None:
        async def until() -> None:
            while sum(1 for s, _d, _r in self.states if s is state) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

    def of(self, state: ConnectionState) -> list[tuple[ConnectionState, str | None, Any]]:
        return [s for s in self.states if s[0] is state]

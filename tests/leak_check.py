"""The leak check shared by the client, integration and group tests: every client
task a test starts (ours, python-socketio's, python-engineio's) must be gone when the
test ends. Import ``no_leaked_client_tasks`` into a conftest to switch it on there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

_CLIENT_CODE = ("engineio/async_client", "socketio/async_client", "peerwave_tui/")


def _client_side(task: asyncio.Task[Any]) -> bool:
    coro = task.get_coro()
    code = getattr(coro, "cr_code", None) or getattr(coro, "ag_code", None)
    filename = code.co_filename if code is not None else ""
    return any(part in filename for part in _CLIENT_CODE) and "devserver" not in filename


@pytest.fixture(autouse=True)
async def no_leaked_client_tasks() -> AsyncIterator[None]:
    yield
    for _ in range(100):  # closing transports may take a few loop turns
        leaked = [
            t
            for t in asyncio.all_tasks()
            if t is not asyncio.current_task() and not t.done() and _client_side(t)
        ]
        if not leaked:
            return
        await asyncio.sleep(0.02)
    names = sorted({t.get_coro().__qualname__ for t in leaked})  # type: ignore[union-attr]
    pytest.fail(f"client tasks leaked: {names}")

"""Helpers for client integration tests: managers with their own homes, accounts made
through the real client code, waiting for events."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peerwave_tui import events as ev
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import AccountRecord, ConnectionState, Contact, KeyMode, MessageStatus
from peerwave_tui.paths import Paths
from peerwave_tui.storage.custody import KeyCustody, PassphraseSource

PASSPHRASE = "integration test passphrase"
REPO = Path(__file__).resolve().parents[2]


def new_manager(
    home: Path,
    mode: KeyMode = KeyMode.MEMORY,
    *,
    clock: Callable[[], float] = time.time,
) -> SignalClientManager:
    """A manager with its own home. PASSPHRASE mode (a fixed passphrase) keeps accounts
    across managers on the same home; MEMORY mode forgets them at ``aclose``."""
    paths = Paths.from_home(home).ensure()
    source = PassphraseSource.fixed(PASSPHRASE) if mode is KeyMode.PASSPHRASE else None
    return SignalClientManager(
        paths, KeyCustody(paths, mode=mode, passphrase_source=source), clock=clock
    )


async def register(
    manager: SignalClientManager, server: Any, email: str, name: str, at_name: str | None = None
) -> AccountRecord:
    pending = await manager.register_start(server.url, email)
    otp = await server.read_otp(email)
    result = await manager.register_finish(pending, otp, name, at_name)
    assert len(result.backup_codes) == 9  # ten issued, one used by the first login
    return result.account


def contact(record: AccountRecord, name: str = "") -> Contact:
    assert record.user_id is not None
    return Contact(user_id=record.user_id, display_name=name or record.display_name or "?")


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
        self, predicate: Callable[[ev.Event], bool], timeout: float = 20.0, after: int = 0
    ) -> ev.Event:
        async def scan() -> ev.Event:
            seen = after
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def wait_count(
        self, predicate: Callable[[ev.Event], bool], count: int, timeout: float = 30.0
    ) -> list[ev.Event]:
        async def until() -> list[ev.Event]:
            while True:
                found = [e for e in self.events if predicate(e)]
                if len(found) >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(until(), timeout)

    def matching(self, predicate: Callable[[ev.Event], bool]) -> list[ev.Event]:
        return [e for e in self.events if predicate(e)]

    def mark(self) -> int:
        return len(self.events)

    async def close(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


def received(account_id: str, text: str | None = None) -> Callable[[ev.Event], bool]:
    return lambda e: (
        isinstance(e, ev.MessageReceived)
        and e.account_id == account_id
        and (text is None or e.message.text == text)
    )


def connected(account_id: str) -> Callable[[ev.Event], bool]:
    return state_is(account_id, ConnectionState.CONNECTED)


def state_is(account_id: str, *states: ConnectionState) -> Callable[[ev.Event], bool]:
    return lambda e: (
        isinstance(e, ev.ConnectionChanged) and e.account_id == account_id and e.state in states
    )


def status_is(item_id: str, status: MessageStatus) -> Callable[[ev.Event], bool]:
    return lambda e: (
        isinstance(e, ev.MessageStatusChanged) and e.item_id == item_id and e.status is status
    )


# --- the CLI in a subprocess -----------------------------------------------------------


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PEERWAVE_TUI_HOME",)}
    env.pop("PEERWAVE_TUI_PASSPHRASE", None)
    env.update(extra)
    return env


async def cli(
    home: Path,
    *args: str,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> tuple[int, str, str]:
    """``python -m peerwave_tui --home HOME ARGS``: (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "peerwave_tui", "--home", str(home), *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env if env is not None else cli_env(),
        cwd=REPO,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise TimeoutError(
            f"peerwave-tui {' '.join(args)} ran over {timeout} s; stderr: {err.decode()[-2000:]}"
        ) from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_line_error(rc: int, err: str) -> None:
    """A failing command: non-zero status, exactly one line on stderr, no traceback."""
    assert rc != 0
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("peerwave-tui: error: "), err

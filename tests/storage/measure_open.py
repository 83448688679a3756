"""Measure what opening a device store costs (not a test: no speed targets in tests).

    dbus-run-session -- scripts/_in-keyring-session \\
        .venv/bin/python -m tests.storage.measure_open [--runs 9] [--messages 100000]

Prints medians (min..max) over ``--runs`` of:
- creating a new store (directory, SQLCipher database with raw key, WAL,
  ``synchronous=FULL``, schema, ``store.json`` with its check value);
- opening it again, empty, and again holding ``--messages`` 1:1 messages (the open
  runs SQLCipher's ``cipher_integrity_check`` over every page, so it grows with size);
- a new database key in the Secret Service keyring, and reading it back (as every
  open in keyring mode does first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import keyring

from peerwave_tui.models import ConversationKind, Direction, KeyMode, MessageKind, MessageStatus
from peerwave_tui.storage.device_store import DeviceStore
from peerwave_tui.storage.history import History
from peerwave_tui.storage.tx import transaction

SERVER = "http://127.0.0.1:3000"
SERVICE = "peerwave-tui-measure"


async def _timed(work: Awaitable[Any]) -> tuple[float, Any]:
    """(milliseconds, result) of awaiting ``work`` (a coroutine starts when awaited)."""
    started = time.perf_counter()
    result = await work
    return (time.perf_counter() - started) * 1000, result


def _summary(label: str, values: list[float]) -> str:
    return (
        f"{label:<44} {statistics.median(values):8.2f} ms  ({min(values):.2f}..{max(values):.2f})"
    )


def _fill(count: int) -> Callable[[Any], None]:
    def write(conn: Any) -> None:
        history = History(conn)
        now = int(time.time() * 1000)
        with transaction(conn):
            history.ensure_conversation("peer", ConversationKind.DIRECT, "Peer")
            for i in range(count):
                history.insert_message(
                    conversation_id="peer",
                    conversation_kind=ConversationKind.DIRECT,
                    item_id=str(uuid.uuid4()),
                    sender="peer",
                    sender_device=1,
                    direction=Direction.IN,
                    kind=MessageKind.TEXT,
                    body="lorem ipsum dolor sit amet " * 4,
                    status=MessageStatus.RECEIVED,
                    created_at=now - (count - i) * 1000,
                    reported=True,
                )

    return write


async def _open(directory: Path, key: bytes, *, create: bool) -> DeviceStore:
    return await DeviceStore.open(
        directory,
        key,
        server_url=SERVER,
        key_mode=KeyMode.KEYRING,
        keyring_backend="measure",
        create=create,
    )


async def main(runs: int, messages: int, root: Path) -> None:
    created, opened_empty, opened_full, key_new, key_read = [], [], [], [], []
    big = root / "big"
    key_big = os.urandom(32)
    store = await _open(big, key_big, create=True)
    await store.run(_fill(messages))
    await store.aclose()
    size_mb = sum(f.stat().st_size for f in big.iterdir()) / 1e6
    backend = keyring.get_keyring()
    for run in range(runs):
        directory = root / f"s{run}"
        key = os.urandom(32)
        ms, store = await _timed(_open(directory, key, create=True))
        created.append(ms)
        await store.aclose()
        ms, store = await _timed(_open(directory, key, create=False))
        opened_empty.append(ms)
        await store.aclose()
        ms, store = await _timed(_open(big, key_big, create=False))
        opened_full.append(ms)
        await store.aclose()
        user, secret = f"measure/{run}", os.urandom(32).hex()
        ms, _ = await _timed(asyncio.to_thread(backend.set_password, SERVICE, user, secret))
        key_new.append(ms)
        ms, _ = await _timed(asyncio.to_thread(backend.get_password, SERVICE, user))
        key_read.append(ms)
        await asyncio.to_thread(backend.delete_password, SERVICE, user)
    print(f"keyring backend: {type(backend).__module__}.{type(backend).__name__}")
    print(_summary("create a store", created))
    print(_summary("open a store (empty)", opened_empty))
    print(_summary(f"open a store ({messages:,} messages, {size_mb:.1f} MB)", opened_full))
    print(_summary("keyring: store a new key", key_new))
    print(_summary("keyring: read a key", key_read))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--messages", type=int, default=100_000)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="measure-open-"))
    try:
        asyncio.run(main(options.runs, options.messages, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)

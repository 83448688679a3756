"""One process per account: a real second process is refused and changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from peerwave_tui.errors import StoreLockedError, StoreWrongKeyError
from peerwave_tui.models import KeyMode

from .helpers import REPO, file_hashes, fill, new_store, reopen, run_python

KEY = bytes(range(32))

SECOND_PROCESS = """
import asyncio, json
from pathlib import Path
from peerwave_tui.models import KeyMode
from peerwave_tui.storage.device_store import DeviceStore

async def attempt(create):
    try:
        store = await DeviceStore.open(Path(DIRECTORY), bytes(range(32)), server_url="x",
            key_mode=KeyMode.MEMORY, keyring_backend=None, create=create)
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc), "pid": getattr(exc, "pid", None)}
    rows = await store.run(lambda conn: conn.execute("SELECT count(*) FROM kv").fetchone()[0])
    await store.aclose()
    return {"opened": rows}

async def main():
    results = [await attempt(False), await attempt(True)]
    try:
        await DeviceStore.delete(Path(DIRECTORY))
        results.append({"deleted": True})
    except Exception as exc:
        results.append({"error": type(exc).__name__})
    print(json.dumps(results))

asyncio.run(main())
"""


def _second_process(directory: Path) -> list[dict[str, object]]:
    results, _ = run_python(f"DIRECTORY = {str(directory)!r}\n" + SECOND_PROCESS)
    return results  # type: ignore[no-any-return]


async def test_second_process_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "servers" / "srv" / "client"
    store = await new_store(directory, KEY)
    await store.run(fill)
    before = file_hashes(directory)  # the lock file included
    listing = sorted(p.name for p in directory.iterdir())
    try:
        results = _second_process(directory)
        assert file_hashes(directory) == before
        assert sorted(p.name for p in directory.iterdir()) == listing
        rows = await store.run(lambda conn: conn.execute("SELECT count(*) FROM kv").fetchone()[0])
    finally:
        await store.aclose()
    me = os.getpid()
    for result in results:  # open, create and delete: all refused
        assert result["error"] == "StoreLockedError"
    assert results[0]["pid"] == me
    assert f"in use by process {me}" in str(results[0]["message"])
    assert rows == 300


async def test_lock_is_released_on_close(tmp_path: Path) -> None:
    directory = tmp_path / "servers" / "srv" / "client"
    store = await new_store(directory, KEY)
    await store.run(fill)
    await store.aclose()
    results = _second_process(directory)
    assert results[0] == {"opened": 300}
    assert results[1]["error"] == "StoreError"  # create over existing data: refused
    assert results[2] == {"deleted": True}
    assert not directory.exists()


async def test_second_open_in_the_same_process_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "servers" / "srv" / "client"
    store = await new_store(directory, KEY)
    try:
        with pytest.raises(StoreLockedError, match=f"in use by process {os.getpid()}"):
            await reopen(directory, KEY)
    finally:
        await store.aclose()


HOLDER = """
import asyncio, sys
from pathlib import Path
from peerwave_tui.models import KeyMode
from peerwave_tui.storage.device_store import DeviceStore

async def main():
    store = await DeviceStore.open(Path(sys.argv[1]), bytes(range(32)), server_url="x",
        key_mode=KeyMode.MEMORY, keyring_backend=None, create=False)
    await store.run_in_transaction(
        lambda conn: conn.execute("INSERT INTO kv VALUES ('committed', x'01')"))
    print("ready", flush=True)
    await asyncio.sleep(300)

asyncio.run(main())
"""


async def test_a_killed_holder_leaves_no_stale_lock_and_loses_no_commit(tmp_path: Path) -> None:
    directory = tmp_path / "servers" / "srv" / "client"
    store = await new_store(directory, KEY)
    await store.aclose()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError) as refused:
            await reopen(directory, KEY)
        assert refused.value.pid == holder.pid
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    # The commit is in the WAL the killed process left behind. A wrong key does not
    # touch it; the right key recovers it.
    assert (directory / "store.db-wal").stat().st_size > 0
    before = file_hashes(directory, skip=("store.lock", "store.db-shm"))
    with pytest.raises(StoreWrongKeyError):
        await reopen(directory, bytes(32), mode=KeyMode.MEMORY)
    assert file_hashes(directory, skip=("store.lock", "store.db-shm")) == before
    store = await reopen(directory, KEY, mode=KeyMode.MEMORY)
    try:
        row = await store.run(
            lambda conn: conn.execute("SELECT value FROM kv WHERE key='committed'").fetchone()
        )
    finally:
        await store.aclose()
    assert row == (b"\x01",)

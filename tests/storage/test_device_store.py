"""DeviceStore on real SQLCipher files: encryption, pragmas, thread, schema, damage."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from peerwave_tui.errors import (
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    StoreWrongKeyError,
)
from peerwave_tui.models import KeyMode
from peerwave_tui.storage import schema
from peerwave_tui.storage.device_store import DeviceStore
from peerwave_tui.storage.store_info import read_store_info

from .helpers import SERVER, file_hashes, fill, new_store, reopen, run_python

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "servers" / "example-0123456789" / "client-1"


async def test_store_file_is_encrypted_and_reopens(store_dir: Path) -> None:
    store = await new_store(store_dir, KEY)
    marker = b"plain-text-marker-" * 4
    await store.run_in_transaction(
        lambda conn: conn.execute("INSERT INTO kv VALUES ('marker', ?)", (marker,))
    )
    await store.aclose()

    raw = (store_dir / "store.db").read_bytes()
    assert not raw.startswith(b"SQLite format 3")
    assert marker not in raw
    plain = sqlite3.connect(store_dir / "store.db")
    with pytest.raises(sqlite3.DatabaseError):
        plain.execute("SELECT * FROM sqlite_master").fetchall()
    plain.close()

    store = await reopen(store_dir, KEY)
    try:
        value = await store.run(
            lambda conn: conn.execute("SELECT value FROM kv WHERE key='marker'").fetchone()[0]
        )
        assert value == marker
    finally:
        await store.aclose()


async def test_pragmas_schema_and_store_json(store_dir: Path) -> None:
    store = await new_store(store_dir, KEY, mode=KeyMode.KEYRING, backend="some.Backend")
    try:

        def pragmas(conn: object) -> dict[str, object]:
            return {
                name: conn.execute(f"PRAGMA {name}").fetchone()[0]  # type: ignore[attr-defined]
                for name in (
                    "journal_mode",
                    "synchronous",
                    "user_version",
                    "temp_store",
                    "secure_delete",
                )
            }

        values = await store.run(pragmas)
        autocommit = await store.run(lambda conn: conn.isolation_level)
        await store.check_integrity()  # the full check passes on a healthy store
    finally:
        await store.aclose()
    assert values == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL
        "user_version": schema.SCHEMA_VERSION,
        "temp_store": 2,  # MEMORY
        "secure_delete": 1,
    }
    assert autocommit is None

    text = (store_dir / "store.json").read_text()
    data = json.loads(text)
    assert data["schema_version"] == schema.SCHEMA_VERSION
    assert data["key_mode"] == "keyring"
    assert data["keyring_backend"] == "some.Backend"
    assert data["server_url"] == SERVER
    assert data["created"]
    assert KEY.hex() not in text  # no secrets
    info = DeviceStore.read_store_info(store_dir)
    assert info.key_mode is KeyMode.KEYRING and info.key_check is not None
    assert info.key_check.matches(KEY) and not info.key_check.matches(OTHER_KEY)


async def test_every_call_runs_in_the_store_thread_one_at_a_time(store_dir: Path) -> None:
    store = await new_store(store_dir, KEY)
    loop_thread = threading.get_ident()
    active = 0
    overlap = False
    seen_threads: set[int] = set()
    order: list[int] = []

    def job(i: int) -> int:
        nonlocal active, overlap
        active += 1
        overlap = overlap or active > 1
        seen_threads.add(threading.get_ident())
        assert store.in_store_thread()
        time.sleep(0.002)  # widen the window in which an overlap would show
        order.append(i)
        active -= 1
        return i

    try:
        results = await asyncio.gather(*(store.run(lambda _c, i=i: job(i)) for i in range(40)))
    finally:
        await store.aclose()
    assert results == list(range(40))
    assert order == list(range(40))  # submitted order is execution order
    assert not overlap
    assert len(seen_threads) == 1 and loop_thread not in seen_threads
    assert not store.in_store_thread()


async def test_exceptions_propagate_and_the_store_stays_usable(store_dir: Path) -> None:
    store = await new_store(store_dir, KEY)
    try:

        def boom(conn: object) -> None:
            raise ValueError("from the store thread")

        with pytest.raises(ValueError, match="from the store thread"):
            await store.run(boom)
        assert await store.run(lambda conn: conn.execute("SELECT 41 + 1").fetchone()[0]) == 42
    finally:
        await store.aclose()


async def test_aclose_is_idempotent_and_stops_the_thread(store_dir: Path) -> None:
    store = await new_store(store_dir, KEY)
    await asyncio.gather(store.aclose(), store.aclose())
    await store.aclose()
    assert store.closed
    assert not [t for t in threading.enumerate() if t.name.startswith("store-")]
    with pytest.raises(StoreError, match="closed"):
        await store.run(lambda conn: None)
    # the lock is released: the store opens again
    again = await reopen(store_dir, KEY)
    await again.aclose()


async def test_transactions_and_savepoints_roll_back_precisely(store_dir: Path) -> None:
    from peerwave_tui.storage.tx import savepoint, transaction

    store = await new_store(store_dir, KEY)

    def put(conn: object, key: str) -> None:
        conn.execute("INSERT INTO kv VALUES (?, x'00')", (key,))  # type: ignore[attr-defined]

    def keys(conn: object) -> list[str]:
        rows = conn.execute("SELECT key FROM kv ORDER BY key").fetchall()  # type: ignore[attr-defined]
        return [r[0] for r in rows]

    def scenario(conn: object) -> list[str]:
        with transaction(conn):
            put(conn, "a")
            with pytest.raises(RuntimeError):
                with savepoint(conn):
                    put(conn, "b")
                    with savepoint(conn):
                        put(conn, "c")
                    raise RuntimeError("inner failure")
            with savepoint(conn):
                put(conn, "d")
                with pytest.raises(RuntimeError):
                    with savepoint(conn):
                        put(conn, "e")
                        raise RuntimeError("innermost failure")
                put(conn, "f")
        committed = keys(conn)
        with pytest.raises(KeyError):
            with transaction(conn):
                put(conn, "g")
                with savepoint(conn):
                    put(conn, "h")
                raise KeyError("outer failure")
        assert not conn.in_transaction  # type: ignore[attr-defined]
        assert keys(conn) == committed
        return committed

    try:
        assert await store.run(scenario) == ["a", "d", "f"]

        def failing(conn: object) -> None:
            put(conn, "z")
            raise LookupError

        with pytest.raises(LookupError):
            await store.run_in_transaction(failing)
        assert await store.run(keys) == ["a", "d", "f"]
    finally:
        await store.aclose()
    store = await reopen(store_dir, KEY)  # committed means on disk
    try:
        assert await store.run(keys) == ["a", "d", "f"]
    finally:
        await store.aclose()


async def test_older_schema_is_migrated(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await new_store(store_dir, KEY)
    await store.aclose()

    def add_notes(conn: object) -> None:
        conn.execute("CREATE TABLE test_notes (id INTEGER PRIMARY KEY, body TEXT)")  # type: ignore[attr-defined]

    newer = [*schema.MIGRATIONS, add_notes]
    monkeypatch.setattr(schema, "MIGRATIONS", newer)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(newer))

    store = await reopen(store_dir, KEY)
    try:
        version, tables = await store.run(
            lambda conn: (
                conn.execute("PRAGMA user_version").fetchone()[0],
                [r[0] for r in conn.execute("SELECT name FROM sqlite_master")],
            )
        )
    finally:
        await store.aclose()
    assert version == len(newer)
    assert "test_notes" in tables
    assert store.info.schema_version == len(newer)
    assert read_store_info(store_dir).schema_version == len(newer)


async def test_store_from_a_newer_version_is_refused_unchanged(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = list(schema.MIGRATIONS)
    newer = [*real, lambda conn: conn.execute("CREATE TABLE from_the_future (x)")]
    monkeypatch.setattr(schema, "MIGRATIONS", newer)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(newer))
    store = await new_store(store_dir, KEY)
    await store.aclose()
    monkeypatch.setattr(schema, "MIGRATIONS", real)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(real))

    before = file_hashes(store_dir, skip=("store.lock",))
    with pytest.raises(StoreError, match="newer peerwave-tui"):
        await reopen(store_dir, KEY)
    assert file_hashes(store_dir, skip=("store.lock",)) == before


async def _store_with_data(store_dir: Path, mode: KeyMode = KeyMode.PASSPHRASE) -> None:
    store = await new_store(store_dir, KEY, mode=mode)
    await store.run(fill)
    await store.aclose()


def _damage(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(os.urandom(64))


async def test_wrong_key_is_told_apart_from_a_damaged_file(store_dir: Path) -> None:
    await _store_with_data(store_dir)
    db = store_dir / "store.db"
    before = file_hashes(store_dir, skip=("store.lock",))

    with pytest.raises(StoreWrongKeyError) as wrong:
        await reopen(store_dir, OTHER_KEY, mode=KeyMode.PASSPHRASE)
    assert not isinstance(wrong.value, StoreCorruptError)
    assert "key mode: passphrase" in str(wrong.value)
    assert "passphrase" in str(wrong.value).split("key mode")[0]
    assert file_hashes(store_dir, skip=("store.lock",)) == before

    _damage(db, db.stat().st_size // 2)  # a page in the middle
    damaged = file_hashes(store_dir, skip=("store.lock",))
    with pytest.raises(StoreCorruptError) as corrupt:
        await reopen(store_dir, KEY, mode=KeyMode.PASSPHRASE)
    assert not isinstance(corrupt.value, StoreWrongKeyError)
    assert "damaged" in str(corrupt.value) and "key mode: passphrase" in str(corrupt.value)
    assert file_hashes(store_dir, skip=("store.lock",)) == damaged

    # the wrong key on the damaged file is still a wrong key
    with pytest.raises(StoreWrongKeyError):
        await reopen(store_dir, OTHER_KEY, mode=KeyMode.PASSPHRASE)


async def test_damaged_first_page_is_a_damaged_file_not_a_wrong_key(store_dir: Path) -> None:
    # SQLCipher reports both as "file is not a database"; only the check value can tell.
    await _store_with_data(store_dir, KeyMode.KEYRING)
    _damage(store_dir / "store.db", 100)
    with pytest.raises(StoreCorruptError, match="key mode: keyring"):
        await reopen(store_dir, KEY, mode=KeyMode.KEYRING)
    with pytest.raises(StoreWrongKeyError, match="OS keyring"):
        await reopen(store_dir, OTHER_KEY, mode=KeyMode.KEYRING)


async def test_without_a_check_value_the_error_says_it_cannot_tell(store_dir: Path) -> None:
    await _store_with_data(store_dir)
    data = json.loads((store_dir / "store.json").read_text())
    data["key_check"] = None
    (store_dir / "store.json").write_text(json.dumps(data))
    with pytest.raises(StoreError, match="no check value") as ambiguous:
        await reopen(store_dir, OTHER_KEY, mode=KeyMode.PASSPHRASE)
    assert not isinstance(ambiguous.value, (StoreWrongKeyError, StoreCorruptError))
    store = await reopen(store_dir, KEY, mode=KeyMode.PASSPHRASE)  # the right key
    await store.aclose()
    restored = read_store_info(store_dir).key_check  # ...writes a new check value
    assert restored is not None and restored.matches(KEY)


async def test_damaged_store_json_is_reported(store_dir: Path) -> None:
    await _store_with_data(store_dir)
    (store_dir / "store.json").write_text("{not json")
    with pytest.raises(StoreCorruptError, match="store.json"):
        DeviceStore.read_store_info(store_dir)
    with pytest.raises(StoreCorruptError):
        await reopen(store_dir, KEY, mode=KeyMode.PASSPHRASE)


async def test_missing_store_is_not_created(store_dir: Path) -> None:
    with pytest.raises(StoreError, match="no device store"):
        await reopen(store_dir, KEY)
    assert not store_dir.exists()
    with pytest.raises(StoreError, match="no device store"):
        DeviceStore.read_store_info(store_dir)


async def test_create_never_replaces_an_existing_store(store_dir: Path) -> None:
    await _store_with_data(store_dir)
    before = file_hashes(store_dir, skip=("store.lock",))
    with pytest.raises(StoreError, match="never generated over existing data"):
        await new_store(store_dir, OTHER_KEY)
    assert file_hashes(store_dir, skip=("store.lock",)) == before
    assert DeviceStore.exists(store_dir)


async def test_a_failed_create_leaves_nothing_behind(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conn: object) -> None:
        raise RuntimeError("migration bug")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    with pytest.raises(RuntimeError, match="migration bug"):
        await new_store(store_dir, KEY)
    assert sorted(p.name for p in store_dir.iterdir()) == ["store.lock"]
    assert not DeviceStore.exists(store_dir)
    monkeypatch.undo()
    store = await new_store(store_dir, KEY)  # the next attempt is not blocked
    await store.aclose()


async def test_lost_store_json_is_reported(store_dir: Path) -> None:
    await _store_with_data(store_dir)
    (store_dir / "store.json").unlink()
    with pytest.raises(StoreCorruptError, match="lost its store.json"):
        await reopen(store_dir, KEY, mode=KeyMode.PASSPHRASE)
    with pytest.raises(StoreError, match="never generated over existing data"):
        await new_store(store_dir, OTHER_KEY)


async def test_key_mode_must_match_the_recorded_one(store_dir: Path) -> None:
    await _store_with_data(store_dir, KeyMode.KEYRING)
    with pytest.raises(StoreError, match="keyring mode"):
        await reopen(store_dir, KEY, mode=KeyMode.PASSPHRASE)


async def test_key_must_be_32_bytes(store_dir: Path) -> None:
    with pytest.raises(StoreError, match="32 bytes"):
        await new_store(store_dir, b"short")
    assert not store_dir.exists()


async def test_delete_removes_everything_but_not_while_open(store_dir: Path) -> None:
    await _store_with_data(store_dir)
    sibling = store_dir.parent / "client-2"
    await _store_with_data(sibling)
    store = await reopen(store_dir, KEY, mode=KeyMode.PASSPHRASE)
    before = file_hashes(store_dir, skip=("store.lock",))
    with pytest.raises(StoreLockedError, match=f"process {os.getpid()}"):
        await DeviceStore.delete(store_dir)
    assert file_hashes(store_dir, skip=("store.lock",)) == before
    await store.aclose()

    await DeviceStore.delete(store_dir)
    assert not store_dir.exists()
    assert sibling.exists()  # the server directory still holds another account
    DeviceStore.destroy(sibling)
    assert not sibling.parent.exists()  # now empty, so removed too
    await DeviceStore.delete(store_dir)  # deleting nothing is fine


async def test_cancelled_open_leaves_nothing_locked(store_dir: Path) -> None:
    await _store_with_data(store_dir)
    task = asyncio.ensure_future(reopen(store_dir, KEY, mode=KeyMode.PASSPHRASE))
    await asyncio.sleep(0)
    task.cancel()
    try:
        store = await task
    except asyncio.CancelledError:
        pass
    else:  # the open won the race: it must still be a normal store
        await store.aclose()
    deadline = time.monotonic() + 30
    while True:
        try:
            store = await reopen(store_dir, KEY, mode=KeyMode.PASSPHRASE)
            break
        except StoreLockedError:
            assert time.monotonic() < deadline, "a cancelled open kept the lock"
            await asyncio.sleep(0.05)
    await store.aclose()


SILENT_OPEN = """
import asyncio, json, logging, sys
from pathlib import Path
from peerwave_tui.models import KeyMode
from peerwave_tui.storage.device_store import DeviceStore

# The app logs to its file; here Python's last-resort stderr handler is kept out so
# only SQLCipher's own output could reach stderr.
logging.getLogger("peerwave_tui").addHandler(logging.NullHandler())

async def main():
    results = []
    for key in (bytes(range(32)), bytes(range(1, 33))):
        try:
            store = await DeviceStore.open(Path(sys.argv[1]), key, server_url="x",
                key_mode=KeyMode.PASSPHRASE, keyring_backend=None, create=False)
        except Exception as exc:
            results.append(type(exc).__name__)
        else:
            await store.aclose()
            results.append("opened")
    print(json.dumps(results))

asyncio.run(main())
"""

RAW_OPEN = """
import json, sys, sqlcipher3
conn = sqlcipher3.connect(sys.argv[1])
conn.execute("PRAGMA key = \\"x'%s'\\"" % bytes(range(32)).hex())
try:
    conn.execute("PRAGMA quick_check").fetchall()
except Exception as exc:
    print(json.dumps(type(exc).__name__))
"""


async def test_sqlcipher_logs_nothing_to_the_terminal(store_dir: Path) -> None:
    await _store_with_data(store_dir)
    db = store_dir / "store.db"
    _damage(db, db.stat().st_size // 2)
    # Control: plain SQLCipher does write to stderr on this file...
    _, raw_stderr = run_python(RAW_OPEN.replace("sys.argv[1]", repr(str(db))))
    assert "hmac" in raw_stderr.lower()
    # ...the store does not, for the damaged file nor for the wrong key.
    code = SILENT_OPEN.replace("sys.argv[1]", repr(str(store_dir)))
    results, stderr = run_python(code)
    assert results == ["StoreCorruptError", "StoreWrongKeyError"]
    assert stderr == ""

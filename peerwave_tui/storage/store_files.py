"""The store thread's side of a device store: creating, opening, checking, deleting.

Everything here is blocking and runs in the store's own thread (``DeviceStore``
submits it there), so the connection is created, used and closed by one thread.
See ``device_store.py`` for the order of the checks and why.
"""

from __future__ import annotations

import logging
import shutil
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import sqlcipher3

from peerwave_tui.errors import StoreCorruptError, StoreError, StoreWrongKeyError
from peerwave_tui.models import KeyMode, utc_now
from peerwave_tui.storage import schema
from peerwave_tui.storage.fs import create_private_file, ensure_private_dir
from peerwave_tui.storage.kdf import KdfParams
from peerwave_tui.storage.lock import LOCK_FILE_NAME, StoreLock
from peerwave_tui.storage.store_info import (
    STORE_JSON,
    KeyCheck,
    StoreInfo,
    read_store_info,
    write_store_info,
)

Connection = Any  # sqlcipher3.Connection (the stubs do not export a usable type)
Opened = tuple[Connection, StoreLock, StoreInfo, int]

log = logging.getLogger(__name__)

DB_FILE = "store.db"
DB_SIDE_FILES = ("store.db-wal", "store.db-shm")


def open_in_store_thread(
    directory: Path,
    key: bytes,
    server_url: str,
    key_mode: KeyMode,
    keyring_backend: str | None,
    create: bool,
    kdf: KdfParams | None,
) -> Opened:
    """Lock, then create or open and check; returns what ``DeviceStore`` wraps."""
    if create:
        ensure_private_dir(directory)
    elif not (directory / STORE_JSON).exists() and not (directory / DB_FILE).exists():
        raise StoreError(f"There is no device store in {directory}.")
    lock = StoreLock.acquire(directory / LOCK_FILE_NAME)
    try:
        if create:
            conn, info = _create(directory, key, server_url, key_mode, keyring_backend, kdf)
        else:
            conn, info = _open_existing(directory, key, server_url, key_mode)
    except BaseException:
        lock.release()
        raise
    return conn, lock, info, threading.get_ident()


def discard_open(job: Future[Opened]) -> None:
    """Close what a cancelled ``open`` opened after all (runs in the store thread)."""
    if job.cancelled() or job.exception() is not None:
        return
    conn, lock, _info, _thread = job.result()
    conn.close()
    lock.release()


def _create(
    directory: Path,
    key: bytes,
    server_url: str,
    key_mode: KeyMode,
    keyring_backend: str | None,
    kdf: KdfParams | None,
) -> tuple[Connection, StoreInfo]:
    if has_store_data(directory):
        raise StoreError(
            f"A store already exists in {directory}; a new key is never generated over "
            "existing data. Open it, or remove the account first."
        )
    db = directory / DB_FILE
    # SQLite gives -wal/-shm the database file's mode; creating all three 0600 first
    # also covers the moment before SQLite does.
    try:
        for name in (DB_FILE, *DB_SIDE_FILES):
            create_private_file(directory / name)
        conn = _connect(db, key)
    except BaseException:
        _remove_new_files(directory)
        raise
    try:
        _verify_readable(conn)  # a fresh file: proves SQLCipher accepted the key
        _configure(conn)
        schema.migrate(conn)
        info = StoreInfo(
            schema_version=schema.current_version(conn),
            key_mode=key_mode,
            keyring_backend=keyring_backend,
            server_url=server_url,
            created=utc_now(),
            kdf=kdf,
            key_check=KeyCheck.make(key),
        )
        write_store_info(directory, info)
    except BaseException:
        conn.close()
        # Nothing of value was there before (checked above, under the lock), so a half
        # made store is removed rather than left to block the next attempt.
        _remove_new_files(directory)
        raise
    return conn, info


def _remove_new_files(directory: Path) -> None:
    for name in (DB_FILE, *DB_SIDE_FILES, STORE_JSON):
        (directory / name).unlink(missing_ok=True)


def _open_existing(
    directory: Path, key: bytes, server_url: str, key_mode: KeyMode
) -> tuple[Connection, StoreInfo]:
    if not (directory / STORE_JSON).exists():
        raise StoreCorruptError(
            f"The store in {directory} has lost its store.json, so its key mode is unknown. "
            "Restore the file from a backup, or remove the account and add it again."
        )
    info = read_store_info(directory)
    if info.key_mode != key_mode:
        raise StoreError(
            f"This store keeps its key in {info.key_mode.value} mode (recorded in its "
            f"store.json), not {key_mode.value}."
        )
    if info.key_check is not None and not info.key_check.matches(key):
        # Decided before SQLCipher sees the file: a connection with a wrong key would
        # still replay a WAL left by a crash into store.db when it closes.
        raise _wrong_key(directory, info)
    db = directory / DB_FILE
    if not db.exists() or (db.stat().st_size == 0 and not _nonempty(directory / DB_SIDE_FILES[0])):
        raise StoreCorruptError(
            f"The store for {info.server_url} has lost its database file ({db}). Restore "
            "it from a backup, or remove the account and add it again."
        )
    conn = _connect(db, key)
    try:
        try:
            _verify_readable(conn)
            check_integrity(conn)
        except sqlcipher3.DatabaseError as exc:
            raise _classify_failure(directory, key, info, exc) from None
        _configure(conn)
        schema.migrate(conn)
        info = _refresh_info(directory, conn, key, info, server_url)
    except BaseException:
        conn.close()
        raise
    return conn, info


def _connect(db: Path, key: bytes) -> Connection:
    try:
        conn = sqlcipher3.connect(str(db), isolation_level=None, check_same_thread=True)
    except sqlcipher3.Error as exc:
        raise StoreError(f"Cannot open {db}: {exc}.") from exc
    # SQLCipher logs to stderr by default (WARN and up), which would write over the
    # TUI. The level is process-wide; set it before the key so nothing slips out.
    conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    return conn


def _verify_readable(conn: Connection) -> None:
    """The first read decrypts page 1: a wrong key or a damaged header fails here."""
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()


def check_integrity(conn: Connection, *, structure: bool = False) -> None:
    """Verify every page's HMAC (any damaged byte fails it), and with ``structure``
    also the b-trees (``quick_check``). Raises ``DatabaseError`` on damage.

    Opening runs the page check only: it reads the whole file once (about 5 ms per MB
    here); ``quick_check`` would read it a second time.
    """
    problems = conn.execute("PRAGMA cipher_integrity_check").fetchall()
    if problems:
        raise sqlcipher3.DatabaseError(str(problems[0][0]))
    if structure:
        result = conn.execute("PRAGMA quick_check").fetchall()
        if result != [("ok",)]:
            raise sqlcipher3.DatabaseError(str(result[0][0]) if result else "quick_check failed")


def _configure(conn: Connection) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"The store could not switch to WAL mode (got {mode}).")
    conn.execute("PRAGMA synchronous = FULL")
    # Temporary tables and sort spills stay in memory, never in plaintext temp files.
    conn.execute("PRAGMA temp_store = MEMORY")
    # Deleted rows (used prekeys, old sessions, removed messages) are overwritten,
    # not left in free pages for whoever later learns the key.
    conn.execute("PRAGMA secure_delete = ON")


def _classify_failure(directory: Path, key: bytes, info: StoreInfo, exc: Exception) -> StoreError:
    """Wrong key or damaged file? SQLCipher cannot say; the check value can."""
    mode = info.key_mode.value
    where = f"The store for {info.server_url} ({directory})"
    if info.key_check is None:
        return StoreError(
            f"{where} cannot be opened: either the key is wrong (key mode: {mode}) or the "
            f"file is damaged ({exc}), and its store.json has no check value to tell "
            "which."
        )
    if info.key_check.matches(key):
        log.warning("store damaged: %s (%s)", directory.name, exc)
        return StoreCorruptError(
            f"{where} is damaged ({exc}). The key is right (key mode: {mode}), so the "
            "file itself is at fault: restore the directory from a backup, or remove the "
            "account and add it again."
        )
    return _wrong_key(directory, info)


def _wrong_key(directory: Path, info: StoreInfo) -> StoreWrongKeyError:
    return StoreWrongKeyError(
        f"The store for {info.server_url} ({directory}): {_wrong_key_advice(info)} "
        "Its files were not changed."
    )


def _wrong_key_advice(info: StoreInfo) -> str:
    if info.key_mode is KeyMode.KEYRING:
        return (
            "the key in the OS keyring does not open it (key mode: keyring, backend "
            f"{info.keyring_backend or 'unknown'}). The keyring entry was replaced; restore "
            "the original entry (service 'peerwave-tui'), or remove the account and add it "
            "again."
        )
    if info.key_mode is KeyMode.PASSPHRASE:
        return (
            "the passphrase does not open it (key mode: passphrase). Try again with the "
            "right passphrase (PEERWAVE_TUI_PASSPHRASE, --passphrase-file or the prompt)."
        )
    return (
        "the in-memory key does not open it (key mode: memory): such a store lives only "
        "as long as the process that made it. Remove it."
    )


def _refresh_info(
    directory: Path, conn: Connection, key: bytes, info: StoreInfo, server_url: str
) -> StoreInfo:
    """Bring ``store.json`` up to date; write it only when something changed."""
    fresh = info.updated(schema_version=schema.current_version(conn), server_url=server_url)
    if fresh.key_check is None or not fresh.key_check.matches(key):
        # The key just opened the database, so it is right: the check value is
        # missing or damaged. Replace it so a later failure can be classified.
        log.warning("store %s: replacing a missing or damaged key check", directory.name)
        fresh = fresh.updated(key_check=KeyCheck.make(key))
    if fresh != info:
        write_store_info(directory, fresh)
    return fresh


def _nonempty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def has_store_data(directory: Path) -> bool:
    """store.json or a non-empty database/WAL: something a new key must not replace.

    Empty files are leftovers of a create that failed before writing anything.
    """
    return (directory / STORE_JSON).exists() or any(
        _nonempty(directory / name) for name in (DB_FILE, *DB_SIDE_FILES)
    )


def delete_store(directory: Path) -> None:
    """Remove the whole store directory while holding its lock (refused if held)."""
    if not directory.exists():
        return
    lock = StoreLock.acquire(directory / LOCK_FILE_NAME)
    try:
        shutil.rmtree(directory)
    finally:
        lock.release()
    try:
        directory.parent.rmdir()  # the <server-key> directory, if no account is left
    except OSError:
        pass
    log.info("store deleted: %s", directory.name)

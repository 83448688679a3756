"""One server+account's device store: a directory, a lock, one SQLCipher database.

::

    <data>/servers/<server-key>/<client-id>/     0700
        store.lock                                0600, flock'ed while open, holder's pid
        store.db (+ -wal, -shm)                   0600, SQLCipher 4, raw 32-byte key
        store.json                                0600, no secrets (see store_info.py)

Threading: every store has its own single-thread executor, the *store thread*. The
connection is created, used and closed only there, so all Signal operations and
history writes of one server run one after another (python-axolotl has no locking),
and fsync never blocks the event loop. ``run(fn)`` hands ``fn(conn)`` to that thread.

The connection is in autocommit mode (``isolation_level=None``); code groups writes
with ``storage.tx.transaction(conn)``, which nests as savepoints.

Opening checks, in this order and before writing anything: the lock (a second
process stops with "in use by process N"), the key (the check value, then SQLCipher's
page HMACs), then
the whole file (``cipher_integrity_check`` verifies every page's HMAC, so any
damaged byte is found before use). Only then does it switch on WAL, migrate and update
``store.json``. A wrong key and a damaged file are told apart by the check value in
``store.json`` (``StoreWrongKeyError`` vs ``StoreCorruptError``). The check value is
tried before SQLCipher sees the file, so a wrong key changes no file at all (a
connection would replay a crashed process's WAL into ``store.db`` as it closes).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import sqlcipher3

from peerwave_tui.errors import StoreCorruptError, StoreError
from peerwave_tui.models import KeyMode
from peerwave_tui.storage.kdf import KdfParams
from peerwave_tui.storage.lock import StoreLock
from peerwave_tui.storage.store_files import (
    DB_FILE,
    DB_SIDE_FILES,
    Connection,
    check_integrity,
    delete_store,
    discard_open,
    has_store_data,
    open_in_store_thread,
)
from peerwave_tui.storage.store_info import StoreInfo, read_store_info
from peerwave_tui.storage.tx import transaction

__all__ = ["DB_FILE", "DB_SIDE_FILES", "KEY_BYTES", "Connection", "DeviceStore"]

T = TypeVar("T")
log = logging.getLogger(__name__)

KEY_BYTES = 32


class DeviceStore:
    """An open store. Create with ``await DeviceStore.open(...)``; end with ``aclose()``."""

    def __init__(
        self,
        directory: Path,
        info: StoreInfo,
        executor: ThreadPoolExecutor,
        conn: Connection,
        lock: StoreLock,
        thread_id: int,
    ) -> None:
        self._directory = directory
        self._info = info
        self._executor = executor
        self._conn: Connection | None = conn
        self._lock = lock
        self._thread_id = thread_id
        self._closing: asyncio.Future[None] | None = None

    # --- opening ----------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        directory: Path,
        key: bytes,
        *,
        server_url: str,
        key_mode: KeyMode,
        keyring_backend: str | None,
        create: bool,
        kdf: KdfParams | None = None,
    ) -> DeviceStore:
        """Open (``create=False``) or create (``create=True``) the store in ``directory``.

        ``key`` is the raw 32-byte database key. For a new store, ``key_mode``,
        ``keyring_backend`` and ``kdf`` (passphrase mode's parameters) are recorded in
        ``store.json``; for an existing one they must agree with what it records
        (an existing store always uses its recorded mode).

        Raises ``StoreLockedError`` (another process has it open), ``StoreError``
        (missing store with ``create=False``, existing data with ``create=True``,
        schema from a newer version), ``StoreWrongKeyError`` or ``StoreCorruptError``.
        A refused open (locked, wrong key, missing, newer) leaves every file as it was
        (bar the lock file's pid).
        """
        if len(key) != KEY_BYTES:
            raise StoreError(f"A store key must be {KEY_BYTES} bytes.")
        directory = Path(directory)
        name = f"store-{directory.parent.name[:24]}/{directory.name[:8]}"
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        job = executor.submit(
            open_in_store_thread,
            directory,
            key,
            server_url,
            key_mode,
            keyring_backend,
            create,
            kdf,
        )
        try:
            opened = await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            # The open may still be running in its thread: undo it there once it ends
            # (the connection may only be closed by its own thread).
            executor.submit(discard_open, job)
            executor.shutdown(wait=False)
            raise
        except BaseException:
            await asyncio.to_thread(executor.shutdown, wait=True)
            raise
        conn, lock, info, thread_id = opened
        store = cls(directory, info, executor, conn, lock, thread_id)
        log.info("store opened: %s (schema %d)", directory.name, info.schema_version)
        return store

    # --- use ---------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def info(self) -> StoreInfo:
        return self._info

    @property
    def closed(self) -> bool:
        return self._closing is not None

    def in_store_thread(self) -> bool:
        """True when called from this store's own thread (for assertions)."""
        return threading.get_ident() == self._thread_id

    async def run(self, fn: Callable[[Connection], T], /) -> T:
        """Run ``fn(conn)`` in the store thread, after everything submitted before it.

        Exceptions from ``fn`` propagate unchanged. Cancelling the awaiting task does
        not interrupt ``fn`` once it has started (wrap its writes in a transaction).
        """
        if self._closing is not None:
            raise StoreError("This store is closed.")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._call, fn)
        except RuntimeError as exc:
            if self._closing is not None and "shutdown" in str(exc):
                raise StoreError("This store is closed.") from exc
            raise

    async def run_in_transaction(self, fn: Callable[[Connection], T], /) -> T:
        """Like ``run``, inside ``transaction(conn)``: all of ``fn``'s writes or none."""

        def wrapped(conn: Connection) -> T:
            with transaction(conn):
                return fn(conn)

        return await self.run(wrapped)

    async def check_integrity(self) -> None:
        """A full check (every page's HMAC and the b-trees), e.g. for a diagnostics
        command; raises ``StoreCorruptError`` naming the first problem."""

        def check(conn: Connection) -> None:
            try:
                check_integrity(conn, structure=True)
            except sqlcipher3.DatabaseError as exc:
                raise StoreCorruptError(
                    f"The store for {self._info.server_url} ({self._directory}) is damaged "
                    f"({exc}). Restore the directory from a backup, or remove the account "
                    "and add it again."
                ) from None

        await self.run(check)

    def _call(self, fn: Callable[[Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise StoreError("This store is closed.")
        return fn(conn)

    # --- closing -----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection, stop the store thread, release the lock. Idempotent."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            # Queued work finishes first: the executor runs jobs in order.
            await loop.run_in_executor(self._executor, self._close_connection)
        finally:
            await asyncio.to_thread(self._executor.shutdown, wait=True)
            self._lock.release()
            log.info("store closed: %s", self._directory.name)

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # --- helpers that need no key ---------------------------------------------------

    @staticmethod
    def read_store_info(directory: Path) -> StoreInfo:
        """``store.json`` of an existing store, read without its key (blocking, small):
        tells the caller which key mode to use. See ``store_info.read_store_info``."""
        return read_store_info(Path(directory))

    @staticmethod
    def exists(directory: Path) -> bool:
        """Does ``directory`` hold a store (or the remains of one)?"""
        return has_store_data(Path(directory))

    @staticmethod
    async def delete(directory: Path) -> None:
        """Delete the store directory completely (account removal).

        Takes the lock first: a store open in any process (this one included: close it
        first) raises ``StoreLockedError`` and nothing is deleted. Removes the
        ``<server-key>`` directory above it too when that is left empty.
        """
        await asyncio.to_thread(delete_store, Path(directory))

    @staticmethod
    def destroy(directory: Path) -> None:
        """Blocking form of ``delete`` (for callers that are not on the event loop, or
        accept a short disk wait there)."""
        delete_store(Path(directory))

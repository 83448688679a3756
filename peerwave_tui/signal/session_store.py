"""python-axolotl's SessionStore over the device store: one SessionRecord per device.

Outside a batch, reads are memoized only *within* one KeyManager operation
(``operation()``), never across operations: a caller's outer transaction can roll
back after we return, and a longer-lived cache would then hand out a ratchet state the
database no longer has (reused message keys, or messages that no longer decrypt).
Within one operation the memo saves the second read python-axolotl makes
(``containsSession`` then ``loadSession``), and a failed operation throws the memo
away with its savepoint. Writes go straight to the database.

Inside a batch (``batch()``, opened by a caller for the length of one transaction,
e.g. a page of pending messages), records stay deserialized in memory and are written
once, at ``flush()`` (which the caller runs before it commits, and before anything
else may read the sessions table). The caller's transaction rolling back is safe: the
batch, like the KeyManager that holds it, ends with that transaction. A failed
operation inside a batch is undone in memory too: every record it touched goes back
to its state from before the operation (re-read from the database when it had no
unwritten changes, else rebuilt from a serialized copy taken when the operation first
touched it), so the records flushed later are exactly those of the successful
operations, as without a batch.
"""

from __future__ import annotations

from typing import Any

from axolotl.state.sessionrecord import SessionRecord
from axolotl.state.sessionstore import SessionStore as AxolotlSessionStore

_Key = tuple[str, int]
_CLEAN = object()  # undo marker: the record had no unwritten changes; re-read it


class SessionStore(AxolotlSessionStore):  # type: ignore[misc]
    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._memo: dict[_Key, bytes | None] | None = None
        # Batch mode (see the module docstring): key -> record (None: no session).
        self._cache: dict[_Key, Any] | None = None
        self._dirty: set[_Key] = set()
        self._undo: dict[_Key, object] = {}  # pre-operation state of touched records

    def operation(self) -> _Memo:
        """Memoize session rows for the duration of one atomic operation."""
        return _Memo(self)

    def _start_memo(self) -> bool:
        if self._memo is not None:
            return False  # nested: the outer operation owns the memo
        self._memo = {}
        return True

    def _end_memo(self, failed: bool = False) -> None:
        self._memo = None
        if self._cache is not None:
            if failed:
                self._restore()
            self._undo.clear()

    # --- batch mode -----------------------------------------------------------------

    def batch(self) -> _Batch:
        """Keep records in memory until ``flush()``; use inside one transaction and
        flush before it commits (``_Batch`` flushes on a clean exit)."""
        return _Batch(self)

    @property
    def batching(self) -> bool:
        return self._cache is not None

    def flush(self) -> None:
        """Write every record changed since the last flush (never inside an
        operation: its savepoint could roll the writes back)."""
        if self._cache is None or not self._dirty:
            return
        if self._memo is not None:
            raise RuntimeError("session records are flushed between operations only")
        dirty, self._dirty = self._dirty, set()
        for key in sorted(dirty):
            record = self._cache.get(key)
            if record is None:
                self._delete_row(key)
            else:
                self._write_row(key, bytes(record.serialize()))

    def _end_batch(self) -> None:
        self._cache = None
        self._dirty = set()
        self._undo.clear()

    def _touch(self, key: _Key) -> None:
        """Before an operation first changes a cached record: remember how to undo it."""
        if self._memo is None or key in self._undo or self._cache is None:
            return
        if key not in self._dirty:
            self._undo[key] = _CLEAN
            return
        record = self._cache.get(key)
        self._undo[key] = None if record is None else bytes(record.serialize())

    def _restore(self) -> None:
        assert self._cache is not None
        for key, before in self._undo.items():
            if before is _CLEAN:
                self._cache.pop(key, None)
                self._dirty.discard(key)
            else:
                # It had unwritten changes before the operation: they stay unwritten.
                assert before is None or isinstance(before, bytes)
                self._cache[key] = None if before is None else SessionRecord(serialized=before)
                self._dirty.add(key)

    def _cached(self, key: _Key) -> Any:
        """The batch's record for ``key`` (None: no session), read once."""
        assert self._cache is not None
        if key not in self._cache:
            data = self._select(key)
            self._cache[key] = None if data is None else SessionRecord(serialized=data)
        return self._cache[key]

    # --- rows -----------------------------------------------------------------------

    def _select(self, key: _Key) -> bytes | None:
        row = self._conn.execute(
            "SELECT record FROM sessions WHERE address = ? AND device_id = ?", key
        ).fetchone()
        return bytes(row[0]) if row is not None else None

    def _write_row(self, key: _Key, data: bytes) -> None:
        self._conn.execute(
            "INSERT INTO sessions (address, device_id, record) VALUES (?, ?, ?)"
            " ON CONFLICT (address, device_id) DO UPDATE SET record = excluded.record",
            (key[0], key[1], data),
        )

    def _delete_row(self, key: _Key) -> None:
        self._conn.execute("DELETE FROM sessions WHERE address = ? AND device_id = ?", key)

    def _read(self, name: str, device_id: int) -> bytes | None:
        key = (name, device_id)
        if self._memo is not None and key in self._memo:
            return self._memo[key]
        data = self._select(key)
        if self._memo is not None:
            self._memo[key] = data
        return data

    # --- python-axolotl's interface ------------------------------------------------

    def loadSession(self, recepientId: str, deviceId: int) -> Any:
        key = (recepientId, deviceId)
        if self._cache is not None:
            record = self._cached(key)
            if record is None:
                return SessionRecord()
            # The library changes the record in place: undo information first.
            self._touch(key)
            return record
        data = self._read(recepientId, deviceId)
        if data is None:
            return SessionRecord()
        return SessionRecord(serialized=data)

    def getSubDeviceSessions(self, recepientId: str) -> list[int]:
        rows = self._conn.execute(
            "SELECT device_id FROM sessions WHERE address = ? AND device_id != 1",
            (recepientId,),
        ).fetchall()
        found = {int(r[0]) for r in rows}
        if self._cache is not None:
            for (name, device_id), record in self._cache.items():
                if name != recepientId or device_id == 1:
                    continue
                if record is None:
                    found.discard(device_id)
                else:
                    found.add(device_id)
        return sorted(found)

    def storeSession(self, recepientId: str, deviceId: int, sessionRecord: Any) -> None:
        key = (recepientId, deviceId)
        if self._cache is not None:
            self._touch(key)
            self._cache[key] = sessionRecord
            self._dirty.add(key)
            return
        data = bytes(sessionRecord.serialize())
        self._write_row(key, data)
        if self._memo is not None:
            self._memo[key] = data

    def containsSession(self, recepientId: str, deviceId: int) -> bool:
        if self._cache is not None:
            return self._cached((recepientId, deviceId)) is not None
        return self._read(recepientId, deviceId) is not None

    def deleteSession(self, recepientId: str, deviceId: int) -> None:
        key = (recepientId, deviceId)
        self._delete_row(key)
        if self._cache is not None:
            self._touch(key)
            self._cache[key] = None
            self._dirty.discard(key)  # the row is gone already
        if self._memo is not None:
            self._memo[key] = None

    def deleteAllSessions(self, recepientId: str) -> None:
        self._conn.execute("DELETE FROM sessions WHERE address = ?", (recepientId,))
        if self._cache is not None:
            for key in [k for k in self._cache if k[0] == recepientId]:
                self._touch(key)
                self._cache[key] = None
                self._dirty.discard(key)
        if self._memo is not None:
            for key in [k for k in self._memo if k[0] == recepientId]:
                self._memo[key] = None


class _Memo:
    def __init__(self, store: SessionStore) -> None:
        self._store = store
        self._owner = False

    def __enter__(self) -> None:
        self._owner = self._store._start_memo()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._owner:
            self._store._end_memo(failed=exc_type is not None)


class _Batch:
    def __init__(self, store: SessionStore) -> None:
        self._store = store
        self._owner = False

    def __enter__(self) -> SessionStore:
        if self._store._cache is None:
            self._store._cache = {}
            self._owner = True
        return self._store

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if not self._owner:
            return
        try:
            if exc_type is None:
                self._store.flush()
        finally:
            self._store._end_batch()

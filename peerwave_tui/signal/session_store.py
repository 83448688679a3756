"""python-axolotl's SessionStore over the device store: one SessionRecord per device.

Reads are memoized only *within* one KeyManager operation (``operation()``), never
across operations: a caller's outer transaction can roll back after we return, and a
longer-lived cache would then hand out a ratchet state the database no longer has
(reused message keys, or messages that no longer decrypt). Within one operation the
memo saves the second read python-axolotl makes (``containsSession`` then
``loadSession``), and a failed operation throws the memo away with its savepoint.
"""

from __future__ import annotations

from typing import Any

from axolotl.state.sessionrecord import SessionRecord
from axolotl.state.sessionstore import SessionStore as AxolotlSessionStore

_Key = tuple[str, int]


class SessionStore(AxolotlSessionStore):  # type: ignore[misc]
    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._memo: dict[_Key, bytes | None] | None = None

    def operation(self) -> _Memo:
        """Memoize session rows for the duration of one atomic operation."""
        return _Memo(self)

    def _start_memo(self) -> bool:
        if self._memo is not None:
            return False  # nested: the outer operation owns the memo
        self._memo = {}
        return True

    def _end_memo(self) -> None:
        self._memo = None

    def _read(self, name: str, device_id: int) -> bytes | None:
        key = (name, device_id)
        if self._memo is not None and key in self._memo:
            return self._memo[key]
        row = self._conn.execute(
            "SELECT record FROM sessions WHERE address = ? AND device_id = ?", key
        ).fetchone()
        data = bytes(row[0]) if row is not None else None
        if self._memo is not None:
            self._memo[key] = data
        return data

    # --- python-axolotl's interface ------------------------------------------------

    def loadSession(self, recepientId: str, deviceId: int) -> Any:
        data = self._read(recepientId, deviceId)
        if data is None:
            return SessionRecord()
        return SessionRecord(serialized=data)

    def getSubDeviceSessions(self, recepientId: str) -> list[int]:
        rows = self._conn.execute(
            "SELECT device_id FROM sessions WHERE address = ? AND device_id != 1",
            (recepientId,),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def storeSession(self, recepientId: str, deviceId: int, sessionRecord: Any) -> None:
        data = bytes(sessionRecord.serialize())
        self._conn.execute(
            "INSERT INTO sessions (address, device_id, record) VALUES (?, ?, ?)"
            " ON CONFLICT (address, device_id) DO UPDATE SET record = excluded.record",
            (recepientId, deviceId, data),
        )
        if self._memo is not None:
            self._memo[(recepientId, deviceId)] = data

    def containsSession(self, recepientId: str, deviceId: int) -> bool:
        return self._read(recepientId, deviceId) is not None

    def deleteSession(self, recepientId: str, deviceId: int) -> None:
        self._conn.execute(
            "DELETE FROM sessions WHERE address = ? AND device_id = ?", (recepientId, deviceId)
        )
        if self._memo is not None:
            self._memo[(recepientId, deviceId)] = None

    def deleteAllSessions(self, recepientId: str) -> None:
        self._conn.execute("DELETE FROM sessions WHERE address = ?", (recepientId,))
        if self._memo is not None:
            for key in [k for k in self._memo if k[0] == recepientId]:
                self._memo[key] = None


class _Memo:
    def __init__(self, store: SessionStore) -> None:
        self._store = store
        self._owner = False

    def __enter__(self) -> None:
        self._owner = self._store._start_memo()

    def __exit__(self, *exc: object) -> None:
        if self._owner:
            self._store._end_memo()

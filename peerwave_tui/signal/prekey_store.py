"""python-axolotl's PreKeyStore over the device store: one-time prekeys.

python-axolotl calls ``removePreKey`` as soon as a PreKey message has used a key.
The PeerWave server can hand one prekey to two senders (its prekey-consumption
quirk, protocol.md §9), so here "remove" only marks the key used; ``cleanup``
deletes used keys 7 days later. Until then a second sender's first message still
decrypts.
"""

from __future__ import annotations

from typing import Any

from axolotl.invalidkeyidexception import InvalidKeyIdException
from axolotl.state.prekeyrecord import PreKeyRecord
from axolotl.state.prekeystore import PreKeyStore as AxolotlPreKeyStore

from peerwave_tui.signal.clock import Clock


class PreKeyStore(AxolotlPreKeyStore):  # type: ignore[misc]
    def __init__(self, conn: Any, clock: Clock) -> None:
        self._conn = conn
        self._clock = clock

    # --- python-axolotl's interface ------------------------------------------------

    def loadPreKey(self, preKeyId: int) -> Any:
        row = self._conn.execute("SELECT record FROM prekeys WHERE id = ?", (preKeyId,)).fetchone()
        if row is None:
            raise InvalidKeyIdException("No such prekey")
        return PreKeyRecord(serialized=bytes(row[0]))

    def storePreKey(self, preKeyId: int, preKeyRecord: Any) -> None:
        self._conn.execute(
            "INSERT INTO prekeys (id, record, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET record = excluded.record",
            (preKeyId, bytes(preKeyRecord.serialize()), self._clock()),
        )

    def containsPreKey(self, preKeyId: int) -> bool:
        row = self._conn.execute("SELECT 1 FROM prekeys WHERE id = ?", (preKeyId,)).fetchone()
        return row is not None

    def removePreKey(self, preKeyId: int) -> None:
        # Mark, do not delete: the server may have handed this key to a second sender.
        self._conn.execute(
            "UPDATE prekeys SET used_at = ? WHERE id = ? AND used_at IS NULL",
            (self._clock(), preKeyId),
        )

    # --- lifecycle -------------------------------------------------------------------

    def store_many(self, records: list[Any], created_at: int) -> None:
        self._conn.executemany(
            "INSERT INTO prekeys (id, record, created_at) VALUES (?, ?, ?)",
            [(r.getId(), bytes(r.serialize()), created_at) for r in records],
        )

    def not_uploaded(self, limit: int) -> list[Any]:
        """Unused prekeys the server has not confirmed yet, oldest first."""
        rows = self._conn.execute(
            "SELECT record FROM prekeys WHERE uploaded_at IS NULL AND used_at IS NULL"
            " ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [PreKeyRecord(serialized=bytes(r[0])) for r in rows]

    def unused(self) -> list[Any]:
        rows = self._conn.execute(
            "SELECT record FROM prekeys WHERE used_at IS NULL ORDER BY id"
        ).fetchall()
        return [PreKeyRecord(serialized=bytes(r[0])) for r in rows]

    def mark_uploaded(self, ids: list[int], when: int) -> None:
        self._conn.executemany(
            "UPDATE prekeys SET uploaded_at = ? WHERE id = ? AND uploaded_at IS NULL",
            [(when, i) for i in ids],
        )

    def is_used(self, prekey_id: int) -> bool:
        row = self._conn.execute(
            "SELECT used_at FROM prekeys WHERE id = ?", (prekey_id,)
        ).fetchone()
        return row is not None and row[0] is not None

    def delete_used_before(self, cutoff: int) -> int:
        cursor = self._conn.execute(
            "DELETE FROM prekeys WHERE used_at IS NOT NULL AND used_at <= ?", (cutoff,)
        )
        return int(cursor.rowcount)

"""python-axolotl's SignedPreKeyStore over the device store.

The current signed prekey is the newest one not retired. A newer one retires the
older ones only once the server has confirmed it (``commit_key_maintenance``); a
retired key stays 30 days so late PreKey messages built on it still decrypt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from axolotl.invalidkeyidexception import InvalidKeyIdException
from axolotl.state.signedprekeyrecord import SignedPreKeyRecord
from axolotl.state.signedprekeystore import SignedPreKeyStore as AxolotlSignedPreKeyStore

from peerwave_tui.signal.clock import Clock


@dataclass(frozen=True)
class StoredSignedPreKey:
    record: Any  # SignedPreKeyRecord
    created_at: int
    uploaded_at: int | None

    @property
    def id(self) -> int:
        return int(self.record.getId())


class SignedPreKeyStore(AxolotlSignedPreKeyStore):  # type: ignore[misc]
    def __init__(self, conn: Any, clock: Clock) -> None:
        self._conn = conn
        self._clock = clock

    # --- python-axolotl's interface ------------------------------------------------

    def loadSignedPreKey(self, signedPreKeyId: int) -> Any:
        row = self._conn.execute(
            "SELECT record FROM signed_prekeys WHERE id = ?", (signedPreKeyId,)
        ).fetchone()
        if row is None:
            raise InvalidKeyIdException("No such signed prekey")
        return SignedPreKeyRecord(serialized=bytes(row[0]))

    def loadSignedPreKeys(self) -> list[Any]:
        rows = self._conn.execute("SELECT record FROM signed_prekeys ORDER BY id").fetchall()
        return [SignedPreKeyRecord(serialized=bytes(r[0])) for r in rows]

    def storeSignedPreKey(self, signedPreKeyId: int, signedPreKeyRecord: Any) -> None:
        created = int(signedPreKeyRecord.getTimestamp()) or self._clock()
        self._conn.execute(
            "INSERT INTO signed_prekeys (id, record, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET record = excluded.record",
            (signedPreKeyId, bytes(signedPreKeyRecord.serialize()), created),
        )

    def containsSignedPreKey(self, signedPreKeyId: int) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM signed_prekeys WHERE id = ?", (signedPreKeyId,)
        ).fetchone()
        return row is not None

    def removeSignedPreKey(self, signedPreKeyId: int) -> None:
        self._conn.execute("DELETE FROM signed_prekeys WHERE id = ?", (signedPreKeyId,))

    # --- lifecycle -------------------------------------------------------------------

    def current(self) -> StoredSignedPreKey | None:
        """The newest signed prekey that is not retired."""
        row = self._conn.execute(
            "SELECT record, created_at, uploaded_at FROM signed_prekeys"
            " WHERE retired_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return StoredSignedPreKey(
            SignedPreKeyRecord(serialized=bytes(row[0])),
            int(row[1]),
            int(row[2]) if row[2] is not None else None,
        )

    def confirm(self, signed_prekey_id: int, when: int) -> None:
        """The server has this key: it becomes the only live one, older ones retire."""
        self._conn.execute(
            "UPDATE signed_prekeys SET uploaded_at = COALESCE(uploaded_at, ?) WHERE id = ?",
            (when, signed_prekey_id),
        )
        self._conn.execute(
            "UPDATE signed_prekeys SET retired_at = ? WHERE id != ? AND retired_at IS NULL",
            (when, signed_prekey_id),
        )

    def delete_retired_before(self, cutoff: int) -> int:
        cursor = self._conn.execute(
            "DELETE FROM signed_prekeys WHERE retired_at IS NOT NULL AND retired_at <= ?",
            (cutoff,),
        )
        return int(cursor.rowcount)

"""python-axolotl's SenderKeyStore over the device store: group sender keys.

A SenderKeyName is ``(group id = channelId, sender address)``; the sender address
is the sending device's local address name (``addresses.py``), or ``self.0`` for our
own sender key. Our own rows also keep the original distribution message.
"""

from __future__ import annotations

from typing import Any

from axolotl.groups.state.senderkeyrecord import SenderKeyRecord
from axolotl.groups.state.senderkeystore import SenderKeyStore as AxolotlSenderKeyStore


def _key(sender_key_name: Any) -> tuple[str, str, int]:
    sender = sender_key_name.getSender()
    return (str(sender_key_name.getGroupId()), sender.getName(), int(sender.getDeviceId()))


class SenderKeyStore(AxolotlSenderKeyStore):  # type: ignore[misc]
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    # --- python-axolotl's interface ------------------------------------------------

    def storeSenderKey(self, senderKeyName: Any, senderKeyRecord: Any) -> None:
        self._conn.execute(
            "INSERT INTO sender_keys (group_id, address, device_id, record) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (group_id, address, device_id) DO UPDATE SET record = excluded.record",
            (*_key(senderKeyName), bytes(senderKeyRecord.serialize())),
        )

    def loadSenderKey(self, senderKeyName: Any) -> Any:
        row = self._conn.execute(
            "SELECT record FROM sender_keys WHERE group_id = ? AND address = ? AND device_id = ?",
            _key(senderKeyName),
        ).fetchone()
        if row is None:
            return SenderKeyRecord()
        return SenderKeyRecord(serialized=bytes(row[0]))

    # --- ours --------------------------------------------------------------------------

    def distribution(self, sender_key_name: Any) -> bytes | None:
        row = self._conn.execute(
            "SELECT distribution FROM sender_keys"
            " WHERE group_id = ? AND address = ? AND device_id = ?",
            _key(sender_key_name),
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return bytes(row[0])

    def set_distribution(self, sender_key_name: Any, distribution: bytes) -> None:
        self._conn.execute(
            "UPDATE sender_keys SET distribution = ?"
            " WHERE group_id = ? AND address = ? AND device_id = ?",
            (distribution, *_key(sender_key_name)),
        )

    def delete(self, sender_key_name: Any) -> None:
        self._conn.execute(
            "DELETE FROM sender_keys WHERE group_id = ? AND address = ? AND device_id = ?",
            _key(sender_key_name),
        )

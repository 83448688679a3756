"""Signal key material per device: identity, signed prekeys, one-time prekeys.

The dev server never does Signal crypto; it stores what devices publish and hands
it out in bundles (protocol.md section 4).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from peerwave_tui.devserver.db import Database
from peerwave_tui.devserver.store_accounts import Device
from peerwave_tui.devserver.util import iso


@dataclass(frozen=True)
class KeyStatus:
    identity_key: str | None
    signed_prekey: str | None
    signed_prekey_signature: str | None
    signed_prekey_row: int | None
    prekeys: dict[int, str]


class Keys:
    def __init__(
        self, db: Database, now_ms: Callable[[], int], *, prekey_random: bool = False
    ) -> None:
        self._db = db
        self._now_ms = now_ms
        self._prekey_random = prekey_random
        self._rng = random.SystemRandom()

    def set_identity(self, device: Device, public_key: str, registration_id: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO identities (client_id, owner, public_key, registration_id,"
            " updated_ms) VALUES (?, ?, ?, ?, ?)",
            (device.client_id, device.owner, public_key, registration_id, self._now_ms()),
        )

    def add_signed_prekey(self, device: Device, key_id: int, data: str, signature: str) -> None:
        """Insert-if-absent per (device, id): re-sending an existing id changes nothing."""
        now = self._now_ms()
        self._db.execute(
            "INSERT OR IGNORE INTO signed_prekeys (client_id, owner, prekey_id, data, signature,"
            " created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (device.client_id, device.owner, key_id, data, signature, now, now),
        )

    def upsert_prekeys(self, device: Device, prekeys: list[tuple[int, str]]) -> int:
        now = self._now_ms()
        with self._db.transaction():
            for key_id, data in prekeys:
                self._db.execute(
                    "INSERT INTO prekeys (client_id, owner, prekey_id, data, created_ms,"
                    " updated_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (client_id, prekey_id)"
                    " DO UPDATE SET data = excluded.data, updated_ms = excluded.updated_ms",
                    (device.client_id, device.owner, key_id, data, now, now),
                )
        return len(prekeys)

    def delete_prekey(self, device: Device, key_id: int) -> None:
        self._db.execute(
            "DELETE FROM prekeys WHERE client_id = ? AND prekey_id = ?",
            (device.client_id, key_id),
        )

    def wipe(self, device: Device) -> None:
        with self._db.transaction():
            for table in ("identities", "signed_prekeys", "prekeys"):
                self._db.execute(f"DELETE FROM {table} WHERE client_id = ?", (device.client_id,))

    def status(self, device: Device) -> KeyStatus:
        identity = self._db.one(
            "SELECT public_key FROM identities WHERE client_id = ?", (device.client_id,)
        )
        signed = self._newest_signed(device.client_id)
        rows = self._db.all(
            "SELECT prekey_id, data FROM prekeys WHERE client_id = ? ORDER BY prekey_id",
            (device.client_id,),
        )
        return KeyStatus(
            identity_key=None if identity is None else identity["public_key"],
            signed_prekey=None if signed is None else signed["data"],
            signed_prekey_signature=None if signed is None else signed["signature"],
            signed_prekey_row=None if signed is None else int(signed["row_id"]),
            prekeys={int(r["prekey_id"]): r["data"] for r in rows},
        )

    def _newest_signed(self, client_id: str) -> sqlite3.Row | None:
        return self._db.one(
            "SELECT * FROM signed_prekeys WHERE client_id = ? ORDER BY row_id DESC LIMIT 1",
            (client_id,),
        )

    def bundle_entry(self, device: Device) -> dict[str, Any]:
        """One element of ``GET /signal/prekey_bundle``; consumes a one-time prekey.

        The handed-out prekey is deleted; with the prekey quirk a second, independent
        random choice picks the one to delete, as on the PeerWave server.
        """
        identity = self._db.one(
            "SELECT public_key, registration_id FROM identities WHERE client_id = ?",
            (device.client_id,),
        )
        signed = self._newest_signed(device.client_id)
        prekey = self._take_prekey(device.client_id)
        return {
            "clientid": device.client_id,
            "userId": device.owner,
            "device_id": device.device_id,
            "public_key": None if identity is None else identity["public_key"],
            "registration_id": None if identity is None else identity["registration_id"],
            "signedPreKey": None
            if signed is None
            else {
                "signed_prekey_id": int(signed["prekey_id"]),
                "signed_prekey_data": signed["data"],
                "signed_prekey_signature": signed["signature"],
                "createdAt": iso(int(signed["created_ms"])),
                "updatedAt": iso(int(signed["updated_ms"])),
            },
            "preKey": prekey,
        }

    def _take_prekey(self, client_id: str) -> dict[str, Any] | None:
        rows = self._db.all(
            "SELECT * FROM prekeys WHERE client_id = ? ORDER BY row_id", (client_id,)
        )
        if not rows:
            return None
        chosen = self._rng.choice(rows) if self._prekey_random else rows[0]
        doomed = self._rng.choice(rows) if self._prekey_random else chosen
        self._db.execute("DELETE FROM prekeys WHERE row_id = ?", (doomed["row_id"],))
        return {
            "id": int(chosen["row_id"]),
            "client": chosen["client_id"],
            "owner": chosen["owner"],
            "prekey_id": int(chosen["prekey_id"]),
            "prekey_data": chosen["data"],
            "createdAt": iso(int(chosen["created_ms"])),
            "updatedAt": iso(int(chosen["updated_ms"])),
        }

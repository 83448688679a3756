"""python-axolotl's IdentityKeyStore over the device store: our identity, and every
peer device's identity key with per-device trust (signal-notes.md rows 7, 7b).

Trust rules (protocol.md §4.3):
- a device seen for the first time is trusted on first use (a ``new_device`` event);
- a different key for a known device is an identity change: it is kept as
  ``pending_key`` next to the trusted key, the contact stops being verified, and
  sending to the contact is blocked (``KeyManager.check_can_send``) until the user
  accepts it. The trusted key is never overwritten silently.

``isTrustedIdentity`` always answers yes. python-axolotl asks it in two places: when
a PreKey message arrives (receiving is never blocked: refusing would lose a message
the server has already handed over) and when a session is built from a bundle
(``KeyManager.process_bundle`` makes the trust decision itself before building).
"""

from __future__ import annotations

from typing import Any

from axolotl.identitykey import IdentityKey
from axolotl.identitykeypair import IdentityKeyPair
from axolotl.state.identitykeystore import IdentityKeyStore

from peerwave_tui.errors import NoLocalIdentityError
from peerwave_tui.signal.addresses import address_name, parse_address_name
from peerwave_tui.signal.bundles import KnownDevice, TrustEvent, TrustEventKind
from peerwave_tui.signal.clock import Clock


class IdentityStore(IdentityKeyStore):  # type: ignore[misc]
    def __init__(self, conn: Any, clock: Clock) -> None:
        self._conn = conn
        self._clock = clock
        self._key_pair: Any = None
        self._registration_id: int | None = None
        # Trust events seen since the last take_events(): the KeyManager collects
        # them after each operation (and drops them when the operation rolls back).
        self._events: list[TrustEvent] = []

    # --- our own identity --------------------------------------------------------

    def has_local_identity(self) -> bool:
        return self._conn.execute("SELECT 1 FROM local_identity").fetchone() is not None

    def store_local_identity(self, key_pair: Any, registration_id: int) -> None:
        self._conn.execute(
            "INSERT INTO local_identity (id, registration_id, identity_key_pair, created_at)"
            " VALUES (1, ?, ?, ?)",
            (registration_id, bytes(key_pair.serialize()), self._clock()),
        )
        self._key_pair = None
        self._registration_id = None

    def getIdentityKeyPair(self) -> Any:
        if self._key_pair is None:
            self._load_local()
        return self._key_pair

    def getLocalRegistrationId(self) -> int:
        if self._registration_id is None:
            self._load_local()
        assert self._registration_id is not None
        return self._registration_id

    def _load_local(self) -> None:
        row = self._conn.execute(
            "SELECT registration_id, identity_key_pair FROM local_identity WHERE id = 1"
        ).fetchone()
        if row is None:
            raise NoLocalIdentityError("This account has no Signal keys yet.")
        self._registration_id = int(row[0])
        self._key_pair = IdentityKeyPair(serialized=bytes(row[1]))

    # --- peers: python-axolotl's interface ----------------------------------------

    def saveIdentity(self, recepientId: str, identityKey: Any) -> None:
        user_id, device_id = parse_address_name(recepientId)
        self.observe(user_id, device_id, bytes(identityKey.serialize()))

    def isTrustedIdentity(self, recepientId: str, identityKey: Any) -> bool:
        return True

    # --- peers: trust ------------------------------------------------------------

    def observe(self, user_id: str, device_id: int, key: bytes) -> TrustEvent | None:
        """Record that ``key`` is the identity key of that device; say what changed."""
        address = address_name(user_id, device_id)
        row = self._conn.execute(
            "SELECT public_key, pending_key FROM identities WHERE address = ?", (address,)
        ).fetchone()
        now = self._clock()
        if row is None:
            self._conn.execute(
                "INSERT INTO identities (address, user_id, device_id, public_key, first_seen)"
                " VALUES (?, ?, ?, ?, ?)",
                (address, user_id, device_id, key, now),
            )
            return self._event(TrustEventKind.NEW_DEVICE, user_id, device_id)
        trusted, pending = bytes(row[0]), row[1]
        if key == trusted or (pending is not None and key == bytes(pending)):
            return None
        self._conn.execute(
            "UPDATE identities SET pending_key = ?, changed_at = ? WHERE address = ?",
            (key, now, address),
        )
        self._conn.execute("UPDATE identities SET verified = 0 WHERE user_id = ?", (user_id,))
        return self._event(TrustEventKind.IDENTITY_CHANGED, user_id, device_id)

    def trusted_key(self, user_id: str, device_id: int) -> tuple[bytes, bytes | None] | None:
        """``(trusted key, pending key or None)`` of a known device, else None."""
        row = self._conn.execute(
            "SELECT public_key, pending_key FROM identities WHERE address = ?",
            (address_name(user_id, device_id),),
        ).fetchone()
        if row is None:
            return None
        return bytes(row[0]), (bytes(row[1]) if row[1] is not None else None)

    def devices_with_pending_change(self, user_id: str) -> list[int]:
        rows = self._conn.execute(
            "SELECT device_id FROM identities WHERE user_id = ? AND pending_key IS NOT NULL"
            " ORDER BY device_id",
            (user_id,),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def accept_pending(self, user_id: str) -> list[tuple[int, bytes]]:
        """Make every pending key of the user the trusted one; ``(device, new key)``."""
        rows = self._conn.execute(
            "SELECT device_id, pending_key FROM identities"
            " WHERE user_id = ? AND pending_key IS NOT NULL ORDER BY device_id",
            (user_id,),
        ).fetchall()
        self._conn.execute(
            "UPDATE identities SET public_key = pending_key, pending_key = NULL"
            " WHERE user_id = ? AND pending_key IS NOT NULL",
            (user_id,),
        )
        return [(int(r[0]), bytes(r[1])) for r in rows]

    def set_verified(self, user_id: str) -> None:
        self._conn.execute("UPDATE identities SET verified = 1 WHERE user_id = ?", (user_id,))

    def known_devices(self, user_id: str) -> list[KnownDevice]:
        rows = self._conn.execute(
            "SELECT device_id, public_key, pending_key, verified, first_seen, changed_at"
            " FROM identities WHERE user_id = ? ORDER BY device_id",
            (user_id,),
        ).fetchall()
        return [
            KnownDevice(
                user_id=user_id,
                device_id=int(r[0]),
                identity_key=bytes(r[1]),
                pending_key=bytes(r[2]) if r[2] is not None else None,
                verified=bool(r[3]),
                first_seen=int(r[4]),
                changed_at=int(r[5]) if r[5] is not None else None,
            )
            for r in rows
        ]

    def take_events(self) -> list[TrustEvent]:
        events, self._events = self._events, []
        return events

    def _event(self, kind: TrustEventKind, user_id: str, device_id: int) -> TrustEvent:
        event = TrustEvent(kind, user_id, device_id)
        self._events.append(event)
        return event


def identity_key_from_bytes(key: bytes) -> Any:
    """An axolotl ``IdentityKey`` from its 33-byte serialized form."""
    return IdentityKey(bytearray(key), 0)

"""Key lifecycle: a fresh account's keys, what to upload, rotation and cleanup.

protocol.md §4.2: upload the identity when the server's differs; a signed prekey with
a fresh id when the server's differs or ours is 2 days old (older ones are kept 30
days, then deleted); one-time prekeys topped up to 100 when the server holds fewer
than 20, with ids from a counter that never repeats. A one-time prekey a PreKey
message used is deleted 7 days after that use.

Keys are stored *before* they are uploaded: if the upload succeeds and the app dies
before ``commit``, the server hands out keys we still have. Uploaded-but-unconfirmed
keys are simply offered again by the next plan (the server upserts them by id).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Protocol

from axolotl.ecc.curve import Curve
from axolotl.state.prekeyrecord import PreKeyRecord
from axolotl.state.signedprekeyrecord import SignedPreKeyRecord
from axolotl.util.keyhelper import KeyHelper

from peerwave_tui.errors import SignalError
from peerwave_tui.signal.clock import DAY_MS, Clock
from peerwave_tui.signal.identity_store import IdentityStore
from peerwave_tui.signal.prekey_store import PreKeyStore
from peerwave_tui.signal.signed_prekey_store import SignedPreKeyStore

PREKEY_TARGET = 100  # one-time prekeys the server should hold after a top-up
PREKEY_LOW_WATER = 20  # top up when the server holds fewer than this
PREKEY_BATCH = 100  # the server takes at most 100 per request
SIGNED_PREKEY_MAX_AGE_MS = 2 * DAY_MS
RETIRED_SIGNED_PREKEY_KEEP_MS = 30 * DAY_MS
USED_PREKEY_KEEP_MS = 7 * DAY_MS
MAX_KEY_ID = 0xFFFFFF  # 16,777,215: prekey ids are 24-bit in libsignal

_PREKEY_COUNTER = "signal.next_prekey_id"
_SIGNED_PREKEY_COUNTER = "signal.next_signed_prekey_id"


# --- what the server has -------------------------------------------------------------


class KeyStatusLike(Protocol):
    """The parsed ``GET /signal/status/minimal``: raw key bytes (or b64 text), or None."""

    @property
    def identity_key(self) -> bytes | str | None: ...

    @property
    def signed_prekey(self) -> bytes | str | None: ...

    @property
    def prekeys_count(self) -> int: ...


@dataclass(frozen=True)
class ServerKeyStatus:
    identity_key: bytes | str | None
    signed_prekey: bytes | str | None
    prekeys_count: int


# --- what to upload -------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class IdentityUpload:
    public_key: str  # b64 of 33 bytes
    registration_id: str  # decimal

    def body(self) -> dict[str, str]:
        """``POST /signal/identity``."""
        return {"publicKey": self.public_key, "registrationId": self.registration_id}


@dataclass(frozen=True)
class SignedPreKeyUpload:
    id: int
    data: str  # b64 of 33 bytes
    signature: str  # b64 of 64 bytes

    def body(self) -> dict[str, object]:
        """``POST /signal/signedprekey``."""
        return {"id": self.id, "data": self.data, "signature": self.signature}


@dataclass(frozen=True)
class PreKeyUpload:
    id: int
    data: str  # b64 of 33 bytes

    def body(self) -> dict[str, object]:
        return {"id": self.id, "data": self.data}


@dataclass(frozen=True)
class KeyUploadPlan:
    """What to upload; after every part succeeded, ``KeyManager.commit_key_maintenance``."""

    identity: IdentityUpload | None = None
    signed_prekey: SignedPreKeyUpload | None = None
    prekeys: tuple[PreKeyUpload, ...] = field(default_factory=tuple)

    @property
    def is_empty(self) -> bool:
        return self.identity is None and self.signed_prekey is None and not self.prekeys

    def prekey_batches(self) -> list[dict[str, object]]:
        """Bodies for ``POST /signal/prekeys/batch``, at most 100 keys each."""
        return [
            {"preKeys": [p.body() for p in self.prekeys[i : i + PREKEY_BATCH]]}
            for i in range(0, len(self.prekeys), PREKEY_BATCH)
        ]


@dataclass(frozen=True)
class CleanupResult:
    signed_prekeys_deleted: int
    prekeys_deleted: int


# --- the lifecycle ----------------------------------------------------------------------


class KeyLifecycle:
    def __init__(
        self,
        conn: Any,
        identities: IdentityStore,
        signed_prekeys: SignedPreKeyStore,
        prekeys: PreKeyStore,
        clock: Clock,
    ) -> None:
        self._conn = conn
        self._identities = identities
        self._signed = signed_prekeys
        self._prekeys = prekeys
        self._clock = clock

    def create_account_keys(self) -> None:
        """Identity key pair, registration id, a signed prekey, 100 one-time prekeys."""
        key_pair = KeyHelper.generateIdentityKeyPair()
        registration_id = int(KeyHelper.generateRegistrationId())
        self._identities.store_local_identity(key_pair, registration_id)
        self._new_signed_prekey()
        self._new_prekeys(PREKEY_TARGET)

    def full_upload(self) -> KeyUploadPlan:
        """Everything the server should have: identity, current signed prekey, and
        every unused one-time prekey (for a fresh account or after a server wipe)."""
        current = self._signed.current()
        if current is None:
            current_record = self._new_signed_prekey()
        else:
            current_record = current.record
        return KeyUploadPlan(
            identity=self._identity_upload(),
            signed_prekey=_signed_upload(current_record),
            prekeys=tuple(_prekey_upload(r) for r in self._prekeys.unused()),
        )

    def plan(self, server: KeyStatusLike) -> KeyUploadPlan:
        now = self._clock()
        identity_upload = self._identity_upload()
        server_identity = _key_bytes(server.identity_key)
        identity = None
        if server_identity != base64.b64decode(identity_upload.public_key):
            identity = identity_upload

        signed = None
        current = self._signed.current()
        server_signed = _key_bytes(server.signed_prekey)
        if current is None or now - current.created_at >= SIGNED_PREKEY_MAX_AGE_MS:
            signed = _signed_upload(self._new_signed_prekey())
        elif server_signed != _public(current.record):
            if current.uploaded_at is None:
                signed = _signed_upload(current.record)  # never confirmed: offer it again
            else:
                signed = _signed_upload(self._new_signed_prekey())
        elif current.uploaded_at is None:
            signed = _signed_upload(current.record)  # the server has it: confirm on commit

        prekeys: list[Any] = []
        count = max(0, int(server.prekeys_count))
        if count < PREKEY_LOW_WATER:
            wanted = PREKEY_TARGET - count
            prekeys = self._prekeys.not_uploaded(wanted)
            if len(prekeys) < wanted:
                prekeys += self._new_prekeys(wanted - len(prekeys))
        return KeyUploadPlan(
            identity=identity,
            signed_prekey=signed,
            prekeys=tuple(_prekey_upload(r) for r in prekeys),
        )

    def commit(self, plan: KeyUploadPlan) -> None:
        now = self._clock()
        if plan.signed_prekey is not None:
            self._signed.confirm(plan.signed_prekey.id, now)
        if plan.prekeys:
            self._prekeys.mark_uploaded([p.id for p in plan.prekeys], now)

    def cleanup(self, now: int) -> CleanupResult:
        return CleanupResult(
            signed_prekeys_deleted=self._signed.delete_retired_before(
                now - RETIRED_SIGNED_PREKEY_KEEP_MS
            ),
            prekeys_deleted=self._prekeys.delete_used_before(now - USED_PREKEY_KEEP_MS),
        )

    # --- helpers ---------------------------------------------------------------------

    def _identity_upload(self) -> IdentityUpload:
        public = bytes(self._identities.getIdentityKeyPair().getPublicKey().serialize())
        return IdentityUpload(b64(public), str(self._identities.getLocalRegistrationId()))

    def _new_signed_prekey(self) -> Any:
        (key_id,) = self._allocate_ids(_SIGNED_PREKEY_COUNTER, 1)
        identity = self._identities.getIdentityKeyPair()
        key_pair = Curve.generateKeyPair()
        signature = Curve.calculateSignature(
            identity.getPrivateKey(), key_pair.getPublicKey().serialize()
        )
        record = SignedPreKeyRecord(key_id, self._clock(), key_pair, bytes(signature))
        self._signed.storeSignedPreKey(key_id, record)
        return record

    def _new_prekeys(self, count: int) -> list[Any]:
        ids = self._allocate_ids(_PREKEY_COUNTER, count)
        records = [PreKeyRecord(i, Curve.generateKeyPair()) for i in ids]
        self._prekeys.store_many(records, self._clock())
        return records

    def _allocate_ids(self, counter: str, count: int) -> list[int]:
        """``count`` ids from a persistent counter in 1..16,777,215; never reused."""
        row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (counter,)).fetchone()
        start = int(row[0]) if row is not None else 1
        end = start + count
        if end - 1 > MAX_KEY_ID:
            raise SignalError("This account has used up its Signal key ids.")
        self._conn.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (counter, end),
        )
        return list(range(start, end))


def _public(record: Any) -> bytes:
    return bytes(record.getKeyPair().getPublicKey().serialize())


def _signed_upload(record: Any) -> SignedPreKeyUpload:
    return SignedPreKeyUpload(
        id=int(record.getId()), data=b64(_public(record)), signature=b64(record.getSignature())
    )


def _prekey_upload(record: Any) -> PreKeyUpload:
    return PreKeyUpload(id=int(record.getId()), data=b64(_public(record)))


def _key_bytes(value: bytes | str | None) -> bytes | None:
    """The server's key as bytes; a key we cannot read counts as "not there"."""
    if value is None or isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None

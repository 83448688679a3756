"""KeyManager: everything Signal for one account on one server, over its store.

It combines the five python-axolotl stores (one module each) and adds what the
library lacks: the key lifecycle (``lifecycle.py``), per-device trust, and atomic,
hardened encrypt/decrypt (``cipher.py``).

Synchronous and single-threaded: use it only in the store thread that owns ``conn``
(a sqlcipher3 connection in autocommit mode). Constructing one does no I/O, so a
``KeyManager(conn)`` per store call is fine. Each method is atomic: it opens a
transaction, or a SAVEPOINT inside the caller's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from axolotl.sessionbuilder import SessionBuilder
from axolotl.state.prekeybundle import PreKeyBundle

from peerwave_tui.errors import (
    MalformedMessageError,
    NoLocalIdentityError,
    SignalError,
    UntrustedIdentityError,
)
from peerwave_tui.signal import boundary
from peerwave_tui.signal.addresses import address_name
from peerwave_tui.signal.bundles import DeviceBundle, KnownDevice, TrustEvent, TrustEventKind
from peerwave_tui.signal.cipher import DecryptResult, SignalCipher
from peerwave_tui.signal.clock import Clock, system_clock
from peerwave_tui.signal.identity_store import IdentityStore, identity_key_from_bytes
from peerwave_tui.signal.lifecycle import (
    MAX_KEY_ID,
    CleanupResult,
    KeyLifecycle,
    KeyStatusLike,
    KeyUploadPlan,
)
from peerwave_tui.signal.prekey_store import PreKeyStore
from peerwave_tui.signal.sender_key_store import SenderKeyStore
from peerwave_tui.signal.session_store import SessionStore
from peerwave_tui.signal.signed_prekey_store import SignedPreKeyStore
from peerwave_tui.storage.tx import transaction

SIGNATURE_BYTES = 64
MAX_REGISTRATION_ID = 2**31 - 1


class KeyManager:
    def __init__(self, conn: Any, *, clock: Clock | None = None) -> None:
        self._conn = conn
        self._clock: Clock = clock or system_clock
        self.identities = IdentityStore(conn, self._clock)
        self.prekeys = PreKeyStore(conn, self._clock)
        self.signed_prekeys = SignedPreKeyStore(conn, self._clock)
        self.sessions = SessionStore(conn)
        self.sender_keys = SenderKeyStore(conn)
        self._lifecycle = KeyLifecycle(
            conn, self.identities, self.signed_prekeys, self.prekeys, self._clock
        )
        self._cipher = SignalCipher(
            conn,
            self.identities,
            self.prekeys,
            self.signed_prekeys,
            self.sessions,
            self.sender_keys,
        )

    # --- our keys and their lifecycle ------------------------------------------------

    def has_identity(self) -> bool:
        return bool(self.identities.has_local_identity())

    def ensure_identity(self) -> bool:
        """Make a fresh account's keys unless they exist; True when it made them.

        Identity key pair, registration id, a signed prekey and 100 one-time prekeys,
        all stored in one transaction. Upload them with ``public_keys_for_upload``.
        """
        with transaction(self._conn):
            if self.identities.has_local_identity():
                return False
            self._lifecycle.create_account_keys()
            return True

    def identity_key(self) -> bytes:
        """Our 33-byte public identity key."""
        return bytes(self.identities.getIdentityKeyPair().getPublicKey().serialize())

    def registration_id(self) -> int:
        return int(self.identities.getLocalRegistrationId())

    def public_keys_for_upload(self) -> KeyUploadPlan:
        """Everything the server should have (identity, current signed prekey, every
        unused one-time prekey), wire-ready; then ``commit_key_maintenance``."""
        with transaction(self._conn):
            return self._lifecycle.full_upload()

    def plan_key_maintenance(self, server_status: KeyStatusLike) -> KeyUploadPlan:
        """What to upload, given ``GET /signal/status/minimal``. New keys in the plan
        are stored at once, so they decrypt even if the upload outcome is lost."""
        with transaction(self._conn):
            return self._lifecycle.plan(server_status)

    def commit_key_maintenance(self, plan: KeyUploadPlan) -> None:
        """After every part of ``plan`` was uploaded: the new signed prekey becomes the
        current one (older ones retire) and the one-time prekeys count as uploaded."""
        with transaction(self._conn):
            self._lifecycle.commit(plan)

    def cleanup(self, now: int | None = None) -> CleanupResult:
        """Delete signed prekeys retired over 30 days ago and one-time prekeys used over
        7 days ago."""
        with transaction(self._conn):
            return self._lifecycle.cleanup(self._clock() if now is None else now)

    # --- trust, per device ---------------------------------------------------------------

    def process_bundle(self, user_id: str, devices: Sequence[DeviceBundle]) -> list[TrustEvent]:
        """Build sessions for the user's devices that have none, and say what is new.

        A device seen for the first time is trusted on first use (``new_device``). A
        known device with a different key is an identity change (``identity_changed``):
        recorded as pending, the contact unverified, sending blocked; no session is
        built with the new key until ``accept_identity``. A device whose bundle is bad
        gets ``invalid_bundle`` and no session; the others are still processed.
        """
        events: list[TrustEvent] = []
        for bundle in devices:
            if bundle.user_id != user_id:
                raise ValueError("a bundle of another user was passed")
            events.extend(self._process_device(bundle))
        return events

    def check_can_send(self, user_id: str) -> None:
        """Raise ``UntrustedIdentityError`` while any device of the user has an
        identity change the user has not accepted."""
        pending = self.identities.devices_with_pending_change(user_id)
        if pending:
            raise UntrustedIdentityError(user_id, pending)

    def accept_identity(self, user_id: str) -> list[int]:
        """Trust the changed keys of the user's devices; returns those device ids.

        Sessions of those devices that were built with the old key are deleted, so the
        next send builds a new one from a fresh bundle. The contact stays unverified.
        """
        with self._cipher.atomic():
            accepted = self.identities.accept_pending(user_id)
            for device_id, key in accepted:
                name = address_name(user_id, device_id)
                if self.sessions.containsSession(name, device_id) and (
                    _session_identity(self.sessions.loadSession(name, device_id)) != key
                ):
                    self.sessions.deleteSession(name, device_id)
        return [device_id for device_id, _ in accepted]

    def mark_verified(self, user_id: str) -> None:
        """The user compared the safety number: every current key of the contact is
        verified. The number covers the keys in the fresh bundle, pending changes
        included, so verifying also accepts them."""
        with self._cipher.atomic():
            self.accept_identity(user_id)
            self.identities.set_verified(user_id)

    def is_verified(self, user_id: str) -> bool:
        devices = self.identities.known_devices(user_id)
        return bool(devices) and all(d.verified and d.pending_key is None for d in devices)

    def known_devices(self, user_id: str) -> list[KnownDevice]:
        return self.identities.known_devices(user_id)

    # --- 1:1 messages --------------------------------------------------------------------

    def has_session(self, user_id: str, device_id: int) -> bool:
        return self._cipher.has_session(user_id, device_id)

    def encrypt(self, user_id: str, device_id: int, plaintext: bytes) -> tuple[int, bytes]:
        """``(cipherType 3 or 2, serialized ciphertext)`` for one device.

        Raises ``UntrustedIdentityError`` (unaccepted identity change of the user) or
        ``NoSessionError`` (process the device's bundle first).
        """
        self.check_can_send(user_id)
        return self._cipher.encrypt(user_id, device_id, plaintext)

    def decrypt(
        self, user_id: str, device_id: int, cipher_type: int, payload: bytes
    ) -> DecryptResult:
        """Decrypt a 1:1 message (cipherType 3 or 2) from a device.

        Raises ``MalformedMessageError`` or ``UndecryptableMessageError`` and then
        leaves every Signal row as it was. A PreKey message from a device whose
        identity changed is still decrypted; the change comes back as a trust event.
        """
        return self._cipher.decrypt(user_id, device_id, cipher_type, payload)

    # --- groups (sender keys; group id = channelId) ---------------------------------------

    def create_sender_key(self, group_id: str) -> bytes:
        """Our sender key's serialized SenderKeyDistributionMessage for the group.

        Made on first use; later calls return the same original message (until
        ``rotate_sender_key``), so late devices can read from the key's first message.
        Send it 1:1-encrypted to every member device.
        """
        return self._cipher.create_sender_key(group_id)

    def rotate_sender_key(self, group_id: str) -> bytes:
        """A new sender key (e.g. after a member left); returns its distribution."""
        return self._cipher.rotate_sender_key(group_id)

    def has_own_sender_key(self, group_id: str) -> bool:
        return self._cipher.has_own_sender_key(group_id)

    def group_encrypt(self, group_id: str, plaintext: bytes) -> bytes:
        """A serialized SenderKeyMessage (cipherType 4) under our sender key."""
        return self._cipher.group_encrypt(group_id, plaintext)

    def process_distribution(
        self, group_id: str, sender_user_id: str, sender_device_id: int, distribution: bytes
    ) -> bool:
        """Store a member device's sender key (the decrypted distribution message).
        False when that exact key was already held (it is not rewound)."""
        return self._cipher.process_distribution(
            group_id, sender_user_id, sender_device_id, distribution
        )

    def has_sender_key(self, group_id: str, sender_user_id: str, sender_device_id: int) -> bool:
        return self._cipher.has_sender_key(group_id, sender_user_id, sender_device_id)

    def group_decrypt(
        self, group_id: str, sender_user_id: str, sender_device_id: int, payload: bytes
    ) -> bytes:
        """Decrypt a group message. ``MissingSenderKeyError`` (keep the item, retry
        after the next distribution) when we lack that sender key; otherwise
        ``MalformedMessageError`` / ``UndecryptableMessageError``."""
        return self._cipher.group_decrypt(group_id, sender_user_id, sender_device_id, payload)

    # --- helpers -------------------------------------------------------------------------

    def _process_device(self, bundle: DeviceBundle) -> list[TrustEvent]:
        invalid = [TrustEvent(TrustEventKind.INVALID_BUNDLE, bundle.user_id, bundle.device_id)]
        try:
            axolotl_bundle = _axolotl_bundle(bundle)
        except MalformedMessageError:
            return invalid
        known = self.identities.trusted_key(bundle.user_id, bundle.device_id)
        name = address_name(bundle.user_id, bundle.device_id)
        try:
            with self._cipher.atomic():
                if known is not None and bundle.identity_key != known[0]:
                    self.identities.observe(bundle.user_id, bundle.device_id, bundle.identity_key)
                elif known is None or not self.sessions.containsSession(name, bundle.device_id):
                    with boundary.signal_failure("session setup"):
                        SessionBuilder(
                            self.sessions,
                            self.prekeys,
                            self.signed_prekeys,
                            self.identities,
                            name,
                            bundle.device_id,
                        ).processPreKeyBundle(axolotl_bundle)
                events = self.identities.take_events()
        except NoLocalIdentityError:
            raise  # our own keys are missing: not the bundle's fault
        except SignalError:
            return invalid
        return events


def _axolotl_bundle(bundle: DeviceBundle) -> Any:
    """python-axolotl's PreKeyBundle, after checking every size and range."""
    if not bundle.user_id or not isinstance(bundle.user_id, str):
        raise MalformedMessageError("bundle without a user")
    for value in (bundle.device_id, bundle.registration_id, bundle.signed_prekey_id):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise MalformedMessageError("bundle with a bad number")
    if bundle.registration_id > MAX_REGISTRATION_ID or bundle.signed_prekey_id > MAX_KEY_ID:
        raise MalformedMessageError("bundle with a bad number")
    boundary.parse_public_key(bundle.identity_key, "identity key")
    signed = boundary.parse_public_key(bundle.signed_prekey, "signed prekey")
    signature = bundle.signed_prekey_signature
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise MalformedMessageError("bundle with a bad signature")
    prekey_id: int | None = None
    prekey = None
    if bundle.prekey is not None and bundle.prekey_id is not None:
        if isinstance(bundle.prekey_id, bool) or not 0 < bundle.prekey_id <= MAX_KEY_ID:
            raise MalformedMessageError("bundle with a bad prekey id")
        prekey_id = bundle.prekey_id
        prekey = boundary.parse_public_key(bundle.prekey, "prekey")
    identity_key = identity_key_from_bytes(bytes(bundle.identity_key))
    return PreKeyBundle(
        bundle.registration_id,
        bundle.device_id,
        prekey_id,
        prekey,
        bundle.signed_prekey_id,
        signed,
        signature,
        identity_key,
    )


def _session_identity(record: Any) -> bytes | None:
    try:
        return bytes(record.getSessionState().getRemoteIdentityKey().serialize())
    except Exception:  # an empty or damaged state: treat as "not this key"
        return None

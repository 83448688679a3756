"""Encrypt and decrypt: 1:1 sessions and sender-key groups, over our stores.

Every operation runs inside ``storage.tx.transaction`` (a SAVEPOINT when the caller
already has a transaction open) and every failure rolls it back: a failed decrypt
leaves every identity, prekey, signed prekey, session and sender-key row
byte-identical (signal-notes.md row 7: python-axolotl saves the peer identity before
it checks the MAC). Input passes the decode boundary (``boundary.py``) first.

The one exception: a SignalMessage decrypted while the session store keeps a batch
(``SessionStore.batch``) writes no row at all, so it runs without a savepoint; the batch
undoes its session changes when it fails.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from axolotl.groups.groupcipher import GroupCipher
from axolotl.groups.groupsessionbuilder import GroupSessionBuilder
from axolotl.groups.senderkeyname import SenderKeyName
from axolotl.protocol.ciphertextmessage import CiphertextMessage
from axolotl.sessioncipher import SessionCipher

from peerwave_tui.errors import (
    MalformedMessageError,
    MissingSenderKeyError,
    NoSessionError,
    StoreError,
)
from peerwave_tui.signal import boundary
from peerwave_tui.signal.addresses import address_name, axolotl_address, own_sender_address
from peerwave_tui.signal.bundles import TrustEvent
from peerwave_tui.signal.identity_store import IdentityStore
from peerwave_tui.signal.prekey_store import PreKeyStore
from peerwave_tui.signal.sender_key_store import SenderKeyStore
from peerwave_tui.signal.session_store import SessionStore
from peerwave_tui.signal.signed_prekey_store import SignedPreKeyStore
from peerwave_tui.storage.tx import transaction

CIPHER_WHISPER = CiphertextMessage.WHISPER_TYPE  # 2
CIPHER_PREKEY = CiphertextMessage.PREKEY_TYPE  # 3
CIPHER_SENDER_KEY = CiphertextMessage.SENDERKEY_TYPE  # 4


@dataclass(frozen=True)
class DecryptResult:
    plaintext: bytes
    trust_events: tuple[TrustEvent, ...] = ()  # e.g. a new device, an identity change


class SignalCipher:
    def __init__(
        self,
        conn: Any,
        identities: IdentityStore,
        prekeys: PreKeyStore,
        signed_prekeys: SignedPreKeyStore,
        sessions: SessionStore,
        sender_keys: SenderKeyStore,
    ) -> None:
        self._conn = conn
        self._identities = identities
        self._prekeys = prekeys
        self._signed = signed_prekeys
        self._sessions = sessions
        self._sender_keys = sender_keys

    def atomic(self, *, savepoint: bool = True) -> _Atomic:
        """One all-or-nothing operation; trust events of a failed one are dropped.
        ``savepoint=False``: only for operations that write nothing to the database
        themselves (their session changes stay in a batch, which undoes them)."""
        return _Atomic(self._conn, self._identities, self._sessions, savepoint)

    def _session_cipher(self, name: str, device_id: int) -> Any:
        return SessionCipher(
            self._sessions, self._prekeys, self._signed, self._identities, name, device_id
        )

    # --- 1:1 -----------------------------------------------------------------------------

    def has_session(self, user_id: str, device_id: int) -> bool:
        return self._sessions.containsSession(address_name(user_id, device_id), device_id)

    def encrypt(self, user_id: str, device_id: int, plaintext: bytes) -> tuple[int, bytes]:
        data = _plaintext(plaintext)
        name = address_name(user_id, device_id)
        with self.atomic(), boundary.signal_failure("encryption"):
            if not self._sessions.containsSession(name, device_id):
                raise NoSessionError("There is no session with that device yet.")
            message = self._session_cipher(name, device_id).encrypt(data)
            return int(message.getType()), bytes(message.serialize())

    def decrypt(
        self, user_id: str, device_id: int, cipher_type: int, payload: bytes
    ) -> DecryptResult:
        name = _sender_name(user_id, device_id)
        if cipher_type == CIPHER_PREKEY and not isinstance(cipher_type, bool):
            message = boundary.parse_prekey_message(payload)
        elif cipher_type == CIPHER_WHISPER and not isinstance(cipher_type, bool):
            message = boundary.parse_whisper_message(payload)
        else:
            raise MalformedMessageError("The message has an unknown cipher type.")
        # A SignalMessage touches only its session record: in a batch (kept in memory,
        # undone there on failure) it needs no savepoint, two statements fewer each.
        plain = cipher_type == CIPHER_WHISPER and self._sessions.batching
        with self.atomic(savepoint=not plain):
            with boundary.undecryptable_on_failure("message"):
                cipher = self._session_cipher(name, device_id)
                if cipher_type == CIPHER_PREKEY:
                    plaintext = cipher.decryptPkmsg(message)
                else:
                    plaintext = cipher.decryptMsg(message)
            events = tuple(self._identities.take_events())
        return DecryptResult(bytes(plaintext), events)

    # --- groups ------------------------------------------------------------------------

    def create_sender_key(self, group_id: str) -> bytes:
        name = _own_sender_key_name(group_id)
        with self.atomic(), boundary.signal_failure("sender key creation"):
            kept = self._sender_keys.distribution(name)
            if kept is not None and not self._sender_keys.loadSenderKey(name).isEmpty():
                return kept
            distribution = bytes(GroupSessionBuilder(self._sender_keys).create(name).serialize())
            self._sender_keys.set_distribution(name, distribution)
            return distribution

    def rotate_sender_key(self, group_id: str) -> bytes:
        with self.atomic():
            self._sender_keys.delete(_own_sender_key_name(group_id))
            return self.create_sender_key(group_id)

    def has_own_sender_key(self, group_id: str) -> bool:
        return not self._sender_keys.loadSenderKey(_own_sender_key_name(group_id)).isEmpty()

    def group_encrypt(self, group_id: str, plaintext: bytes) -> bytes:
        data = _plaintext(plaintext)
        name = _own_sender_key_name(group_id)
        with self.atomic(), boundary.signal_failure("group encryption"):
            if self._sender_keys.loadSenderKey(name).isEmpty():
                raise NoSessionError("There is no sender key for this group yet.")
            return bytes(GroupCipher(self._sender_keys, name).encrypt(data))

    def process_distribution(
        self, group_id: str, sender_user_id: str, sender_device_id: int, distribution: bytes
    ) -> bool:
        """Store a member's sender key; False when we already held exactly that key."""
        message = boundary.parse_distribution_message(distribution)
        name = _sender_key_name(group_id, sender_user_id, sender_device_id)
        with self.atomic(), boundary.undecryptable_on_failure("sender key distribution"):
            record = self._sender_keys.loadSenderKey(name)
            if _holds(record, message.getId(), message.getSignatureKey().serialize()):
                return False
            GroupSessionBuilder(self._sender_keys).process(name, message)
            return True

    def has_sender_key(self, group_id: str, sender_user_id: str, sender_device_id: int) -> bool:
        name = _sender_key_name(group_id, sender_user_id, sender_device_id)
        return not self._sender_keys.loadSenderKey(name).isEmpty()

    def group_decrypt(
        self, group_id: str, sender_user_id: str, sender_device_id: int, payload: bytes
    ) -> bytes:
        message = boundary.parse_sender_key_message(payload)
        name = _sender_key_name(group_id, sender_user_id, sender_device_id)
        with self.atomic():
            record = self._sender_keys.loadSenderKey(name)
            if not _holds(record, message.getKeyId()):
                raise MissingSenderKeyError("We do not have this member's sender key yet.")
            with boundary.undecryptable_on_failure("group message"):
                plaintext = GroupCipher(self._sender_keys, name).decrypt(message.serialize())
        return bytes(plaintext)


class _Atomic:
    """``transaction(conn)`` (a SAVEPOINT inside the caller's transaction) plus the
    session memo for its duration. A class rather than a generator: it wraps every
    encrypt and decrypt, and this is measurably cheaper."""

    def __init__(
        self, conn: Any, identities: IdentityStore, sessions: SessionStore, savepoint: bool
    ) -> None:
        self._conn = conn
        self._identities = identities
        self._sessions = sessions
        self._transaction = transaction(conn) if savepoint or not conn.in_transaction else None
        self._changes = 0
        self._memo = sessions.operation()

    def __enter__(self) -> None:
        self._identities.take_events()
        if self._transaction is None:
            self._changes = self._conn.total_changes
        else:
            self._transaction.__enter__()
        try:
            self._memo.__enter__()
        except BaseException:
            if self._transaction is not None:
                self._transaction.__exit__(*sys.exc_info())
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._memo.__exit__(exc_type, exc, tb)
        if exc_type is not None:
            self._identities.take_events()
        if self._transaction is None:
            if exc_type is not None and self._conn.total_changes != self._changes:
                # Never expected: a row was written with no savepoint to undo it. Fail
                # the caller's whole transaction rather than keep a half-done change.
                raise StoreError("A failed decrypt changed the store.") from exc
            return
        # transaction() never swallows an exception: it rolls back and re-raises
        self._transaction.__exit__(exc_type, exc, tb)


def _plaintext(plaintext: bytes) -> bytes:
    if isinstance(plaintext, bytearray | memoryview):
        return bytes(plaintext)
    if not isinstance(plaintext, bytes):
        raise TypeError("plaintext must be bytes")
    return plaintext


def _sender_name(user_id: str, device_id: int) -> str:
    try:
        return address_name(user_id, device_id)
    except ValueError:
        raise MalformedMessageError("The message names an invalid sender device.") from None


def _own_sender_key_name(group_id: str) -> Any:
    if not group_id:
        raise ValueError("a group id is required")
    return SenderKeyName(group_id, own_sender_address())


def _sender_key_name(group_id: str, user_id: str, device_id: int) -> Any:
    if not group_id:
        raise MalformedMessageError("The group message names no group.")
    _sender_name(user_id, device_id)
    return SenderKeyName(group_id, axolotl_address(user_id, device_id))


def _holds(record: Any, key_id: int, signing_key: bytes | None = None) -> bool:
    for state in record.senderKeyStates:
        if state.getKeyId() != key_id:
            continue
        if signing_key is None or state.getSigningKeyPublic().serialize() == signing_key:
            return True
    return False

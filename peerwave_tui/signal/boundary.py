"""The single decode boundary between untrusted bytes and python-axolotl.

python-axolotl lets malformed input escape as ``TypeError``, protobuf ``DecodeError``,
``AssertionError``, ``IndexError``, ``ValueError`` and half a dozen exception classes
of its own (signal-notes.md row 8). Every inbound parse and every decrypt goes
through this module, and only two of our own errors come out:

- :class:`~peerwave_tui.errors.MalformedMessageError`: the bytes are not a message;
- :class:`~peerwave_tui.errors.UndecryptableMessageError` (or its subclass
  ``MissingSenderKeyError``): a well-formed message that cannot be decrypted.

Database failures are *not* message failures: they come out as ``StoreError`` so a
caller never records a good message as undecryptable because the disk was full.
Exception details are logged by class name only: their text can hold key material.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from axolotl.ecc.djbec import DjbECPublicKey
from axolotl.protocol import whisperprotos_pb2
from axolotl.protocol.prekeywhispermessage import PreKeyWhisperMessage
from axolotl.protocol.senderkeydistributionmessage import SenderKeyDistributionMessage
from axolotl.protocol.senderkeymessage import SenderKeyMessage
from axolotl.protocol.whispermessage import WhisperMessage
from sqlcipher3 import dbapi2 as sqlcipher

from peerwave_tui.errors import (
    MalformedMessageError,
    PeerwaveError,
    SignalError,
    StoreError,
    UndecryptableMessageError,
)

log = logging.getLogger(__name__)

# Larger than any chat message PeerWave's server accepts (2 MB JSON bodies).
MAX_MESSAGE_BYTES = 2 * 1024 * 1024
PUBLIC_KEY_BYTES = 33  # 0x05 + 32 bytes of Curve25519
KEY_TYPE_DJB = 0x05
CHAIN_KEY_BYTES = 32
MESSAGE_VERSION = 3

_DATABASE_ERRORS = (sqlite3.Error, sqlcipher.Error)


def as_bytes(data: object, what: str) -> bytes:
    """Input as immutable ``bytes`` (upb refuses bytearray/memoryview fields)."""
    if isinstance(data, bytes):
        raw = data
    elif isinstance(data, bytearray | memoryview):
        raw = bytes(data)
    else:
        raise MalformedMessageError(f"The {what} is not binary data.")
    if not raw:
        raise MalformedMessageError(f"The {what} is empty.")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MalformedMessageError(f"The {what} is too large.")
    return raw


def parse_public_key(data: object, what: str = "public key") -> DjbECPublicKey:
    """A 33-byte serialized Curve25519 public key (``0x05`` + 32 bytes)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedMessageError(f"The {what} is not binary data.")
    raw = bytes(data)
    if len(raw) != PUBLIC_KEY_BYTES or raw[0] != KEY_TYPE_DJB:
        raise MalformedMessageError(f"The {what} is not a 33-byte Curve25519 key.")
    return DjbECPublicKey(raw[1:])


def parse_whisper_message(data: object) -> Any:
    """A SignalMessage (cipherType 2)."""
    raw = as_bytes(data, "message")
    with _malformed_on_failure("message"):
        message = WhisperMessage(serialized=raw)
    _check_whisper(message, raw)
    return message


def parse_prekey_message(data: object) -> Any:
    """A PreKeySignalMessage (cipherType 3), with its inner SignalMessage checked too."""
    raw = as_bytes(data, "message")
    with _malformed_on_failure("message"):
        message = PreKeyWhisperMessage(serialized=raw)
    if message.getMessageVersion() != MESSAGE_VERSION:
        raise MalformedMessageError("The message has an unsupported version.")
    if not _exact_key_fields("PreKeyWhisperMessage", raw[1:], ("baseKey", "identityKey")):
        raise MalformedMessageError("The message carries an invalid key.")
    _check_key(message.getBaseKey(), "message")
    _check_key(message.getIdentityKey().getPublicKey(), "message")
    inner = message.getWhisperMessage()
    _check_whisper(inner, inner.serialize())
    return message


def parse_sender_key_message(data: object) -> Any:
    """A SenderKeyMessage (cipherType 4, group items)."""
    raw = as_bytes(data, "group message")
    with _malformed_on_failure("group message"):
        message = SenderKeyMessage(serialized=raw)
        if not isinstance(message.getCipherText(), bytes) or not message.getCipherText():
            raise ValueError("no ciphertext")
    return message


def parse_distribution_message(data: object) -> Any:
    """A serialized SenderKeyDistributionMessage (a group member's sender key)."""
    raw = as_bytes(data, "sender key distribution")
    with _malformed_on_failure("sender key distribution"):
        message = SenderKeyDistributionMessage(serialized=raw)
    chain_key = message.getChainKey()
    if not isinstance(chain_key, bytes) or len(chain_key) != CHAIN_KEY_BYTES:
        raise MalformedMessageError("The sender key distribution has no valid chain key.")
    signing = message.getSignatureKey()
    if not isinstance(signing, DjbECPublicKey) or len(signing.getPublicKey()) != 32:
        raise MalformedMessageError("The sender key distribution has no valid signing key.")
    # decodePoint would silently cut a longer key to 33 bytes: insist on the exact size.
    if not _exact_key_fields("SenderKeyDistributionMessage", raw[1:], ("signingKey",)):
        raise MalformedMessageError("The sender key distribution has no valid signing key.")
    return message


@contextmanager
def undecryptable_on_failure(what: str = "message") -> Iterator[None]:
    """Run a decrypt: every failure becomes ``UndecryptableMessageError``.

    Our own ``PeerwaveError``s pass through unchanged (they are already the answer);
    database errors become ``StoreError`` (the message may be fine; the store is not).
    """
    try:
        yield
    except PeerwaveError:
        raise
    except _DATABASE_ERRORS as exc:
        log.warning("store failure during a Signal operation (%s)", type(exc).__name__)
        raise StoreError("The device store failed during a Signal operation.") from exc
    except Exception as exc:
        log.debug("%s could not be decrypted (%s)", what, type(exc).__name__)
        raise UndecryptableMessageError(f"The {what} could not be decrypted.") from None


@contextmanager
def signal_failure(what: str) -> Iterator[None]:
    """For our own outbound work (encrypt, session building): any library failure
    becomes a plain ``SignalError``; database errors become ``StoreError``."""
    try:
        yield
    except PeerwaveError:
        raise
    except _DATABASE_ERRORS as exc:
        log.warning("store failure during a Signal operation (%s)", type(exc).__name__)
        raise StoreError("The device store failed during a Signal operation.") from exc
    except Exception as exc:
        log.warning("%s failed (%s)", what, type(exc).__name__)
        raise SignalError(f"Signal {what} failed.") from None


@contextmanager
def _malformed_on_failure(what: str) -> Iterator[None]:
    try:
        yield
    except MalformedMessageError:
        raise
    except Exception as exc:
        log.debug("%s could not be parsed (%s)", what, type(exc).__name__)
        raise MalformedMessageError(f"The {what} is malformed.") from None


def _check_whisper(message: Any, raw: bytes) -> None:
    if message.getMessageVersion() != MESSAGE_VERSION:
        raise MalformedMessageError("The message has an unsupported version.")
    body = raw[1 : -WhisperMessage.MAC_LENGTH]
    if not _exact_key_fields("WhisperMessage", body, ("ratchetKey",)):
        raise MalformedMessageError("The message carries an invalid key.")
    _check_key(message.getSenderRatchetKey(), "message")
    body = message.getBody()
    if not isinstance(body, bytes) or not body:
        raise MalformedMessageError("The message has no ciphertext.")


def _check_key(key: object, what: str) -> None:
    if not isinstance(key, DjbECPublicKey):
        raise MalformedMessageError(f"The {what} carries an invalid key.")
    public = key.getPublicKey()
    if not isinstance(public, bytes) or len(public) != 32:
        raise MalformedMessageError(f"The {what} carries an invalid key.")


def _exact_key_fields(message_type: str, payload: bytes, fields: tuple[str, ...]) -> bool:
    """Whether each named key field is exactly 33 bytes (axolotl's decodePoint would
    silently cut a longer one)."""
    proto = getattr(whisperprotos_pb2, message_type)()
    try:
        proto.ParseFromString(payload)
    except Exception:
        return False
    return all(len(getattr(proto, name)) == PUBLIC_KEY_BYTES for name in fields)

"""Values the Signal layer exchanges with its callers: bundles in, trust events out."""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceBundle:
    """One keyed device of a ``/signal/prekey_bundle/{userId}`` answer, decoded.

    Keys are raw bytes: 33-byte public keys (``0x05`` + 32), a 64-byte signature. The
    API layer parses the JSON into this and skips key-less devices.
    """

    user_id: str
    device_id: int
    registration_id: int
    identity_key: bytes
    signed_prekey_id: int
    signed_prekey: bytes
    signed_prekey_signature: bytes
    prekey_id: int | None = None
    prekey: bytes | None = None


class TrustEventKind(enum.StrEnum):
    NEW_DEVICE = "new_device"  # first key seen for this device: trusted on first use
    IDENTITY_CHANGED = "identity_changed"  # a known device has a new key: sending blocked
    INVALID_BUNDLE = "invalid_bundle"  # bad sizes or signature: no session was built


@dataclass(frozen=True)
class TrustEvent:
    """Something the user should be told about a contact's devices."""

    kind: TrustEventKind
    user_id: str
    device_id: int


@dataclass(frozen=True)
class KnownDevice:
    """A device of a contact whose identity key we hold."""

    user_id: str
    device_id: int
    identity_key: bytes  # the trusted key
    pending_key: bytes | None  # a changed key the user has not accepted yet
    verified: bool
    first_seen: int  # ms
    changed_at: int | None  # ms of the last identity change seen

"""Signal key payloads: key status and prekey bundles (protocol.md §4)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from peerwave_tui.errors import ProtocolError
from peerwave_tui.wire import fields as f

if TYPE_CHECKING:
    from peerwave_tui.signal.bundles import DeviceBundle

log = logging.getLogger(__name__)

PUBLIC_KEY_BYTES = 33  # 0x05 + 32 bytes of Curve25519
SIGNATURE_BYTES = 64
_MAX_KEY_CHARS = 200  # b64 of 33 or 64 bytes is far shorter


@dataclass(frozen=True)
class KeyStatus:
    """``GET /signal/status/minimal`` for the calling device."""

    identity_key: bytes | None
    signed_prekey: bytes | None
    prekeys_count: int
    signed_prekey_signature: bytes | None = None
    prekey_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class BundleDevice:
    """One device of a ``/signal/prekey_bundle/{userId}`` answer.

    Devices without (usable) keys are normal: every key field is then ``None`` and
    ``has_keys`` is false; ``keys_malformed`` tells a broken key set from a missing one.
    """

    client_id: str
    user_id: str
    device_id: int
    registration_id: int | None
    identity_key: bytes | None
    signed_prekey_id: int | None
    signed_prekey: bytes | None
    signature: bytes | None
    prekey_id: int | None
    prekey: bytes | None
    keys_malformed: bool = False

    @property
    def has_keys(self) -> bool:
        return (
            self.registration_id is not None
            and self.identity_key is not None
            and self.signed_prekey_id is not None
            and self.signed_prekey is not None
            and self.signature is not None
        )

    def to_cache(self) -> dict[str, Any]:
        """This device in the server's own bundle format (JSON-ready), so a cached copy
        goes back through the same validation with ``from_cache``."""
        result: dict[str, Any] = {
            "clientid": self.client_id,
            "userId": self.user_id,
            "device_id": self.device_id,
            "public_key": None,
            "registration_id": None,
            "signedPreKey": None,
            "preKey": None,
        }
        if not self.has_keys:
            return result
        assert self.identity_key is not None and self.signed_prekey is not None
        assert self.signature is not None
        result["public_key"] = _b64(self.identity_key)
        result["registration_id"] = str(self.registration_id)
        result["signedPreKey"] = {
            "signed_prekey_id": self.signed_prekey_id,
            "signed_prekey_data": _b64(self.signed_prekey),
            "signed_prekey_signature": _b64(self.signature),
        }
        if self.prekey is not None and self.prekey_id is not None:
            result["preKey"] = {"prekey_id": self.prekey_id, "prekey_data": _b64(self.prekey)}
        return result

    @classmethod
    def from_cache(cls, data: object) -> BundleDevice:
        """The inverse of ``to_cache``; ``ProtocolError`` if the entry is unusable."""
        return parse_bundle_device(data)

    def to_device_bundle(self) -> DeviceBundle:
        """The Signal layer's view of this device (only for devices with keys)."""
        # Imported here: the signal package sets up python-axolotl on import, which
        # the wire layer must not pay for (or depend on) otherwise.
        from peerwave_tui.signal.bundles import DeviceBundle

        if not self.has_keys:
            raise ValueError("a key-less device has no Signal bundle")
        assert self.registration_id is not None and self.identity_key is not None
        assert self.signed_prekey_id is not None and self.signed_prekey is not None
        assert self.signature is not None
        return DeviceBundle(
            user_id=self.user_id,
            device_id=self.device_id,
            registration_id=self.registration_id,
            identity_key=self.identity_key,
            signed_prekey_id=self.signed_prekey_id,
            signed_prekey=self.signed_prekey,
            signed_prekey_signature=self.signature,
            prekey_id=self.prekey_id,
            prekey=self.prekey,
        )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def parse_key_status(data: object) -> KeyStatus:
    what = "key status"
    d = f.obj(data, what)
    ids: set[int] = set()
    fingerprints = d.get("preKeyFingerprints")
    if isinstance(fingerprints, Mapping):
        for key in fingerprints:
            prekey_id = f.to_int(key)
            if prekey_id is not None:
                ids.add(prekey_id)
    return KeyStatus(
        identity_key=f.opt_b64_field(d, "identityKey", what, limit=_MAX_KEY_CHARS),
        signed_prekey=f.opt_b64_field(d, "signedPreKey", what, limit=_MAX_KEY_CHARS),
        prekeys_count=f.opt_integer(d, "preKeysCount", what, minimum=0) or 0,
        signed_prekey_signature=f.opt_b64_field(
            d, "signedPreKeySignature", what, limit=_MAX_KEY_CHARS
        ),
        prekey_ids=frozenset(ids),
    )


def _key(d: Mapping[str, Any], key: str, what: str, size: int) -> bytes:
    raw = f.b64_field(d, key, what, limit=_MAX_KEY_CHARS)
    if len(raw) != size:
        raise ProtocolError(f"The server sent a malformed {what}: '{key}' has the wrong size.")
    return raw


def parse_bundle_device(data: object) -> BundleDevice:
    """One bundle element. Raises ``ProtocolError`` only when the device itself cannot
    be named; broken key material gives a key-less device with ``keys_malformed``."""
    what = "bundle entry"
    d = f.obj(data, what)
    client_id = f.string(d, "clientid", what)
    user_id = f.string(d, "userId", what)
    device_id = f.integer(d, "device_id", what, minimum=0)
    keyless = BundleDevice(client_id, user_id, device_id, None, None, None, None, None, None, None)
    if d.get("public_key") is None or d.get("registration_id") is None:
        return keyless
    spk = d.get("signedPreKey")
    if spk is None:
        return keyless
    try:
        registration_id = f.integer(d, "registration_id", what, minimum=0)
        identity = _key(d, "public_key", what, PUBLIC_KEY_BYTES)
        spk_d = f.obj(spk, what)
        signed_prekey_id = f.integer(spk_d, "signed_prekey_id", what, minimum=0)
        signed_prekey = _key(spk_d, "signed_prekey_data", what, PUBLIC_KEY_BYTES)
        signature = _key(spk_d, "signed_prekey_signature", what, SIGNATURE_BYTES)
        prekey_id: int | None = None
        prekey: bytes | None = None
        pk = d.get("preKey")
        if pk is not None:
            pk_d = f.obj(pk, what)
            prekey_id = f.integer(pk_d, "prekey_id", what, minimum=0)
            prekey = _key(pk_d, "prekey_data", what, PUBLIC_KEY_BYTES)
    except ProtocolError:
        return BundleDevice(
            client_id, user_id, device_id, None, None, None, None, None, None, None, True
        )
    return BundleDevice(
        client_id=client_id,
        user_id=user_id,
        device_id=device_id,
        registration_id=registration_id,
        identity_key=identity,
        signed_prekey_id=signed_prekey_id,
        signed_prekey=signed_prekey,
        signature=signature,
        prekey_id=prekey_id,
        prekey=prekey,
    )


def parse_bundle(data: object) -> list[BundleDevice]:
    """The whole bundle array. Entries that do not even name a device are skipped."""
    entries = f.array(data, "prekey bundle")
    devices: list[BundleDevice] = []
    for entry in entries:
        try:
            devices.append(parse_bundle_device(entry))
        except ProtocolError:
            continue
    skipped = len(entries) - len(devices)
    malformed = sum(1 for d in devices if d.keys_malformed)
    if skipped or malformed:
        log.warning(
            "prekey bundle: skipped %d unnamed entries, %d devices with broken keys",
            skipped,
            malformed,
        )
    return devices

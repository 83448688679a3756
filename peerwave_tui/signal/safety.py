"""Safety numbers: libsignal's numeric fingerprint, version 1, multi-key form.

A PeerWave user has one identity key per device, so each side of the number covers
all of that user's device keys (libsignal-protocol-java's list-of-keys
``NumericFingerprintGenerator``; signal-notes.md "Safety numbers"):

- ``keys`` = the side's 33-byte identity keys, sorted bytewise, concatenated;
- ``data = version (2 bytes, 0) || keys || stable id``, then 5200 times
  ``data = SHA-512(data || keys)``;
- the first 30 bytes give 6 chunks of 5 bytes, each big-endian mod 100000 as 5 digits;
- both sides' 30 digits, the lower first: 60 digits, the same for both users.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from peerwave_tui.errors import NoRecipientDevicesError

ITERATIONS = 5200
FINGERPRINT_VERSION = 0  # the hashed version field; the displayable format is version 1
PUBLIC_KEY_BYTES = 33


def fingerprint_half(stable_id: str, identity_keys: Iterable[bytes]) -> str:
    """The 30 digits of one user: their id and all their device identity keys."""
    keys = sorted(bytes(k) for k in identity_keys)
    if not keys:
        raise NoRecipientDevicesError("There are no identity keys to build a safety number.")
    if any(len(k) != PUBLIC_KEY_BYTES or k[0] != 0x05 for k in keys):
        raise ValueError("identity keys must be 33-byte Curve25519 keys")
    joined = b"".join(keys)
    data = FINGERPRINT_VERSION.to_bytes(2, "big") + joined + stable_id.encode("utf-8")
    for _ in range(ITERATIONS):
        data = hashlib.sha512(data + joined).digest()
    return "".join(
        f"{int.from_bytes(data[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5)
    )


def safety_number(
    local_id: str,
    local_keys: Iterable[bytes],
    remote_id: str,
    remote_keys: Iterable[bytes],
) -> str:
    """The 60-digit safety number of two users; both of them compute the same one."""
    local = fingerprint_half(local_id, local_keys)
    remote = fingerprint_half(remote_id, remote_keys)
    return local + remote if local <= remote else remote + local


def format_safety_number(number: str) -> str:
    """12 groups of 5 digits, as Signal shows them."""
    return " ".join(number[i : i + 5] for i in range(0, len(number), 5))

"""Safety numbers: libsignal's numeric fingerprint v1, multi-key form."""

from __future__ import annotations

import hashlib
import os

import pytest

from peerwave_tui.errors import NoRecipientDevicesError
from peerwave_tui.signal import format_safety_number, safety_number
from peerwave_tui.signal.safety import fingerprint_half

# libsignal-protocol-java, NumericFingerprintGeneratorTest.testVectors (version 1, 5200
# iterations): ALICE_IDENTITY, BOB_IDENTITY and DISPLAYABLE_FINGERPRINT.
ALICE = bytes.fromhex("0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868")
BOB = bytes.fromhex("05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b")
VECTOR = "300354477692869396892869876765458257569162576843440918079131"


def _key() -> bytes:
    return b"\x05" + os.urandom(32)


def test_libsignal_published_vector() -> None:
    assert safety_number("+14152222222", [ALICE], "+14153333333", [BOB]) == VECTOR
    assert safety_number("+14153333333", [BOB], "+14152222222", [ALICE]) == VECTOR


def test_both_sides_see_the_same_number_whatever_the_key_order() -> None:
    alice_keys, bob_keys = [_key(), _key()], [_key(), _key(), _key()]
    mine = safety_number("alice", alice_keys, "bob", bob_keys)
    theirs = safety_number("bob", list(reversed(bob_keys)), "alice", list(reversed(alice_keys)))
    assert mine == theirs
    assert len(mine) == 60 and mine.isdigit()
    assert format_safety_number(mine).count(" ") == 11


def test_every_device_key_counts() -> None:
    alice, bob = [_key()], [_key()]
    before = safety_number("alice", alice, "bob", bob)
    assert safety_number("alice", alice, "bob", [*bob, _key()]) != before
    assert safety_number("alice", alice, "bob", [_key()]) != before


def test_multi_key_half_matches_an_independent_computation() -> None:
    keys = [_key() for _ in range(3)]
    joined = b"".join(sorted(keys))
    data = b"\x00\x00" + joined + b"user-id"
    for _ in range(5200):
        data = hashlib.sha512(data + joined).digest()
    expected = "".join(
        str(int.from_bytes(data[i : i + 5], "big") % 100000).zfill(5) for i in range(0, 30, 5)
    )
    assert fingerprint_half("user-id", keys) == expected


def test_no_keys_or_bad_keys_are_refused() -> None:
    with pytest.raises(NoRecipientDevicesError):
        safety_number("alice", [ALICE], "bob", [])
    with pytest.raises(ValueError):
        safety_number("alice", [ALICE], "bob", [BOB[:32]])

"""Sender-key groups between three members, their keys sent 1:1 as PeerWave does."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from axolotl.ecc.curve import Curve
from axolotl.protocol.senderkeydistributionmessage import SenderKeyDistributionMessage

from peerwave_tui.errors import (
    MissingSenderKeyError,
    NoSessionError,
    UndecryptableMessageError,
)
from tests.signal.support import Account, KeyDirectory

MakeAccount = Callable[..., Account]
GROUP = "0c6d2f9e-6a51-4b3e-9d1e-4a7f00c0ffee"


def _distribute(sender: Account, members: list[Account], directory: KeyDirectory) -> bytes:
    """Create (or reuse) the sender's key and deliver it 1:1 to each member."""
    with sender.keys() as keys:
        distribution = keys.create_sender_key(GROUP)
    for member in members:
        with sender.keys() as keys:
            if not keys.has_session(member.user_id, member.device_id):
                keys.process_bundle(member.user_id, directory.bundle(member.user_id))
        envelope = sender.send(member, distribution)
        plaintext = member.receive(sender, envelope)
        with member.keys() as keys:
            keys.process_distribution(GROUP, sender.user_id, sender.device_id, plaintext)
    return distribution


def _group_send(sender: Account, text: bytes) -> bytes:
    with sender.keys() as keys:
        return keys.group_encrypt(GROUP, text)


def _group_receive(member: Account, sender: Account, payload: bytes) -> bytes:
    with member.keys() as keys:
        return keys.group_decrypt(GROUP, sender.user_id, sender.device_id, payload)


def test_three_members_talk_in_a_group(make_account: MakeAccount, directory: KeyDirectory) -> None:
    alice, bob, carol = make_account("alice"), make_account("bob"), make_account("carol")
    members = [alice, bob, carol]
    for sender in members:
        _distribute(sender, [m for m in members if m is not sender], directory)

    for round_ in range(2):
        sent = {
            s.user_id: [_group_send(s, f"{s.user_id} {round_}.{i}".encode()) for i in range(3)]
            for s in members
        }
        for sender in members:
            for member in members:
                if member is sender:
                    continue
                # delivered out of order
                for i in (2, 0, 1):
                    payload = sent[sender.user_id][i]
                    assert (
                        _group_receive(member, sender, payload)
                        == f"{sender.user_id} {round_}.{i}".encode()
                    )


def test_a_missing_sender_key_is_its_own_error_and_the_item_can_wait(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    with alice.keys() as keys:
        keys.create_sender_key(GROUP)
    early = _group_send(alice, b"before bob had the key")
    before = bob.digest()
    with pytest.raises(MissingSenderKeyError):
        _group_receive(bob, alice, early)
    assert bob.digest() == before
    _distribute(alice, [bob], directory)
    assert _group_receive(bob, alice, early) == b"before bob had the key"


def test_replayed_and_tampered_group_messages_change_nothing(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    _distribute(alice, [bob], directory)
    message = _group_send(alice, b"once")
    tampered = bytearray(message)
    tampered[-1] ^= 1  # the signature
    before = bob.digest()
    with pytest.raises(UndecryptableMessageError):
        _group_receive(bob, alice, bytes(tampered))
    assert bob.digest() == before
    assert _group_receive(bob, alice, message) == b"once"
    before = bob.digest()
    with pytest.raises(UndecryptableMessageError):
        _group_receive(bob, alice, message)
    assert bob.digest() == before


def test_the_original_distribution_lets_a_late_device_read_from_the_start(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    original = _distribute(alice, [bob], directory)
    messages = [_group_send(alice, f"m{i}".encode()) for i in range(3)]
    assert [_group_receive(bob, alice, m) for m in messages] == [b"m0", b"m1", b"m2"]

    bob2 = make_account("bob", 2)
    assert _distribute(alice, [bob2], directory) == original  # the same original message
    assert [_group_receive(bob2, alice, m) for m in messages] == [b"m0", b"m1", b"m2"]

    # bob got the original again: already held, not rewound, no replay
    with bob.keys() as keys:
        assert keys.process_distribution(GROUP, "alice", 1, original) is False
    with pytest.raises(UndecryptableMessageError):
        _group_receive(bob, alice, messages[0])


def test_rotation_after_a_member_leaves(make_account: MakeAccount, directory: KeyDirectory) -> None:
    alice, bob, carol = make_account("alice"), make_account("bob"), make_account("carol")
    first = _distribute(alice, [bob, carol], directory)
    old = _group_send(alice, b"old key")
    with alice.keys() as keys:
        rotated = keys.rotate_sender_key(GROUP)
        assert rotated != first
        assert keys.create_sender_key(GROUP) == rotated
    assert _distribute(alice, [bob], directory) == rotated  # carol left
    new = _group_send(alice, b"new key")
    assert _group_receive(bob, alice, new) == b"new key"
    assert _group_receive(bob, alice, old) == b"old key"  # older states are kept (up to 5)
    with pytest.raises(MissingSenderKeyError):
        _group_receive(carol, alice, new)
    assert _group_receive(carol, alice, old) == b"old key"


def test_group_encrypt_needs_our_sender_key(make_account: MakeAccount) -> None:
    alice = make_account("alice")
    with alice.keys() as keys:
        assert not keys.has_own_sender_key(GROUP)
        with pytest.raises(NoSessionError):
            keys.group_encrypt(GROUP, b"x")
        keys.create_sender_key(GROUP)
        assert keys.has_own_sender_key(GROUP)


def test_a_flood_of_sender_keys_stays_bounded(make_account: MakeAccount) -> None:
    bob = make_account("bob")
    with bob.keys() as keys:
        for key_id in range(50):
            flood = SenderKeyDistributionMessage(
                key_id, 0, os.urandom(32), Curve.generateKeyPair().getPublicKey()
            ).serialize()
            assert keys.process_distribution(GROUP, "mallory", 1, flood) is True
        assert keys.has_sender_key(GROUP, "mallory", 1)
        assert not keys.has_sender_key(GROUP, "mallory", 2)
    with bob.conn() as conn:
        (size,) = conn.execute("SELECT length(record) FROM sender_keys").fetchone()
    assert size < 5 * 200  # five states of about 150 bytes

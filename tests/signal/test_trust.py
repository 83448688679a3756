"""Per-device trust: new devices, identity changes, acceptance, verification."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from peerwave_tui.errors import UndecryptableMessageError, UntrustedIdentityError
from peerwave_tui.signal import TrustEvent, TrustEventKind
from tests.signal.support import Account, KeyDirectory, tamper_inner

MakeAccount = Callable[..., Account]


def _kinds(events: list) -> list[tuple[str, str, int]]:
    return [(str(e.kind), e.user_id, e.device_id) for e in events]


def test_a_second_device_is_a_new_device_not_an_identity_change(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob1 = make_account("alice"), make_account("bob", 1)
    assert _kinds(alice.connect_to(directory, "bob")) == [("new_device", "bob", 1)]
    bob2 = make_account("bob", 2)
    assert _kinds(alice.connect_to(directory, "bob")) == [("new_device", "bob", 2)]
    with alice.keys() as keys:
        keys.check_can_send("bob")
        devices = keys.known_devices("bob")
    assert [d.device_id for d in devices] == [1, 2]
    assert devices[0].identity_key != devices[1].identity_key  # one key per device
    assert bob1.receive(alice, alice.send(bob1, b"to one")) == b"to one"
    assert bob2.receive(alice, alice.send(bob2, b"to two")) == b"to two"


def test_identity_change_seen_in_a_bundle_blocks_sending_until_accepted(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    assert bob.receive(alice, alice.send(bob, b"hello")) == b"hello"
    with alice.keys() as keys:
        keys.mark_verified("bob")
        assert keys.is_verified("bob")

    reinstalled = make_account("bob-new", 1, user_id="bob")  # same device, new key
    before = alice.digest()
    assert _kinds(alice.connect_to(directory, "bob")) == [("identity_changed", "bob", 1)]
    # seen again: recorded once, not reported again
    assert alice.connect_to(directory, "bob") == []
    with alice.keys() as keys:
        assert not keys.is_verified("bob")
        (device,) = keys.known_devices("bob")
        assert device.pending_key is not None and device.pending_key != device.identity_key
        with pytest.raises(UntrustedIdentityError) as blocked:
            keys.check_can_send("bob")
        assert blocked.value.device_ids == [1]
        with pytest.raises(UntrustedIdentityError):
            keys.encrypt("bob", 1, b"must not go out")
    assert alice.digest()["sessions"] == before["sessions"]  # no session on the new key yet

    with alice.keys() as keys:
        assert keys.accept_identity("bob") == [1]
        keys.check_can_send("bob")
        assert not keys.has_session("bob", 1)  # the old key's session is gone
        assert not keys.is_verified("bob")
    assert alice.connect_to(directory, "bob") == []
    assert reinstalled.receive(alice, alice.send(reinstalled, b"hi again")) == b"hi again"


def test_a_prekey_message_from_a_changed_device_is_still_decrypted(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    assert bob.receive(alice, alice.send(bob, b"hello")) == b"hello"
    with alice.keys() as keys:
        keys.mark_verified("bob")

    reinstalled = make_account("bob-new", 1, user_id="bob")
    reinstalled.connect_to(directory, "alice")
    message = reinstalled.send(alice, b"I reinstalled")
    with alice.keys() as keys:
        result = keys.decrypt("bob", 1, *message)
        assert result.plaintext == b"I reinstalled"
        assert _kinds(list(result.trust_events)) == [("identity_changed", "bob", 1)]
        assert not keys.is_verified("bob")
        with pytest.raises(UntrustedIdentityError):
            keys.encrypt("bob", 1, b"blocked")
        # accepting keeps the session the message built on the new key
        assert keys.accept_identity("bob") == [1]
        assert keys.has_session("bob", 1)
    reply = alice.send(reinstalled, b"welcome back")
    assert reply[0] == 2
    assert reinstalled.receive(alice, reply) == b"welcome back"


def test_mark_verified_accepts_pending_changes_and_a_new_device_is_unverified(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice = make_account("alice")
    make_account("bob", 1)
    alice.connect_to(directory, "bob")
    with alice.keys() as keys:
        assert not keys.is_verified("bob") and not keys.is_verified("nobody")
        keys.mark_verified("bob")
        assert keys.is_verified("bob")
    make_account("bob", 2)
    assert _kinds(alice.connect_to(directory, "bob")) == [("new_device", "bob", 2)]
    with alice.keys() as keys:
        assert not keys.is_verified("bob")
    make_account("bob-new", 1, user_id="bob")
    alice.connect_to(directory, "bob")
    with alice.keys() as keys:
        keys.mark_verified("bob")
        assert keys.is_verified("bob")
        keys.check_can_send("bob")


def test_bad_bundles_build_nothing(make_account: MakeAccount, directory: KeyDirectory) -> None:
    alice = make_account("alice")
    make_account("bob", 1)
    make_account("bob", 2)
    good1, good2 = directory.bundle("bob")
    forged = replace(good1, signed_prekey_signature=bytes(64))
    short = replace(good2, identity_key=good2.identity_key[:32])
    before = alice.digest()
    with alice.keys() as keys:
        events = keys.process_bundle("bob", [forged, short])
    assert _kinds(events) == [("invalid_bundle", "bob", 1), ("invalid_bundle", "bob", 2)]
    assert alice.digest() == before
    with alice.keys() as keys, pytest.raises(ValueError):
        keys.process_bundle("carol", [good1])


def test_a_bundle_without_one_time_prekey_still_makes_a_session(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    with alice.keys() as keys:
        keys.process_bundle("bob", directory.bundle("bob", take_prekey=False))
    assert bob.receive(alice, alice.send(bob, b"no one-time prekey")) == b"no one-time prekey"
    assert alice.receive(bob, bob.send(alice, b"reply")) == b"reply"


def test_trust_events_of_a_failed_decrypt_are_not_reported(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    message = alice.send(bob, b"hello")
    with bob.keys() as keys:
        with pytest.raises(UndecryptableMessageError):
            keys.decrypt("alice", 1, 3, tamper_inner(message[1], -1))
        result = keys.decrypt("alice", 1, *message)
    assert list(result.trust_events) == [TrustEvent(TrustEventKind.NEW_DEVICE, "alice", 1)]

"""A fresh account's keys in PeerWave's wire encodings, and their lifecycle."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from axolotl.ecc.curve import Curve
from axolotl.invalidkeyidexception import InvalidKeyIdException
from axolotl.protocol.prekeywhispermessage import PreKeyWhisperMessage
from axolotl.sessionbuilder import SessionBuilder
from axolotl.sessioncipher import SessionCipher
from axolotl.state.prekeybundle import PreKeyBundle
from axolotl.state.prekeyrecord import PreKeyRecord
from axolotl.state.signedprekeyrecord import SignedPreKeyRecord
from axolotl.tests.inmemoryaxolotlstore import InMemoryAxolotlStore

from peerwave_tui.errors import SignalError
from peerwave_tui.signal import ServerKeyStatus
from peerwave_tui.signal.boundary import parse_public_key
from peerwave_tui.signal.clock import DAY_MS
from tests.signal.support import Account, Clock, KeyDirectory

MakeAccount = Callable[..., Account]
HOUR_MS = 60 * 60 * 1000


def _b64_bytes(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def test_fresh_account_keys_in_wire_encodings(tmp_path: Path, clock: Clock) -> None:
    account = Account(tmp_path, "fresh", "me", 1, clock)
    with account.keys() as keys:
        assert not keys.has_identity()
        assert keys.ensure_identity() is True
        assert keys.ensure_identity() is False
    with account.keys() as keys:  # reopened from disk
        plan = keys.public_keys_for_upload()
        identity = keys.identity_key()
        registration_id = keys.registration_id()

    assert plan.identity is not None and plan.signed_prekey is not None
    assert _b64_bytes(plan.identity.public_key) == identity
    assert len(identity) == 33 and identity[0] == 0x05
    assert plan.identity.registration_id == str(registration_id)
    assert 1 <= registration_id <= 16380
    assert plan.identity.body() == {
        "publicKey": plan.identity.public_key,
        "registrationId": str(registration_id),
    }

    signed = plan.signed_prekey
    data, signature = _b64_bytes(signed.data), _b64_bytes(signed.signature)
    assert len(data) == 33 and data[0] == 0x05 and len(signature) == 64
    assert Curve.verifySignature(parse_public_key(identity), data, signature)
    assert signed.body() == {"id": signed.id, "data": signed.data, "signature": signed.signature}

    assert len(plan.prekeys) == 100
    assert [p.id for p in plan.prekeys] == list(range(1, 101))
    assert all(len(_b64_bytes(p.data)) == 33 for p in plan.prekeys)
    assert len({p.data for p in plan.prekeys}) == 100
    (batch,) = plan.prekey_batches()
    assert batch["preKeys"] == [{"id": p.id, "data": p.data} for p in plan.prekeys]


def test_maintenance_of_a_fresh_account_uploads_its_own_keys_once(
    tmp_path: Path, clock: Clock, directory: KeyDirectory
) -> None:
    account = Account(tmp_path, "fresh", "me", 1, clock)
    with account.keys() as keys:
        keys.ensure_identity()
        plan = keys.plan_key_maintenance(directory.status("me", 1))
    assert plan.identity is not None and plan.signed_prekey is not None
    assert [p.id for p in plan.prekeys] == list(range(1, 101))  # no extra keys made

    # the upload failed: the next plan offers the very same keys again
    with account.keys() as keys:
        again = keys.plan_key_maintenance(directory.status("me", 1))
    assert again == plan

    directory.upload("me", 1, plan)
    with account.keys() as keys:
        keys.commit_key_maintenance(plan)
        assert keys.plan_key_maintenance(directory.status("me", 1)).is_empty


def test_status_with_b64_text_is_understood(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    account = make_account("me")
    status = directory.status("me", 1)
    assert status.identity_key is not None and status.signed_prekey is not None
    as_text = ServerKeyStatus(
        base64.b64encode(status.identity_key).decode(),
        base64.b64encode(status.signed_prekey).decode(),
        status.prekeys_count,
    )
    with account.keys() as keys:
        assert keys.plan_key_maintenance(as_text).is_empty


def test_identity_is_uploaded_when_the_server_has_another(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    account = make_account("me")
    other = make_account("other")
    wrong = replace(
        directory.status("me", 1), identity_key=directory.status("other", 1).identity_key
    )
    with account.keys() as keys:
        plan = keys.plan_key_maintenance(wrong)
        assert plan.identity is not None
        assert _b64_bytes(plan.identity.public_key) == keys.identity_key()
    assert other.user_id == "other"


def test_signed_prekey_rotates_after_two_days_and_old_ones_go_after_thirty(
    make_account: MakeAccount, directory: KeyDirectory, clock: Clock
) -> None:
    bob = make_account("bob")
    alice = make_account("alice")
    alice.connect_to(directory, "bob")  # a session on bob's first signed prekey
    late = alice.send(bob, b"sent before the rotation")

    clock.advance(2 * DAY_MS - HOUR_MS)
    with bob.keys() as keys:
        assert keys.plan_key_maintenance(directory.status("bob", 1)).is_empty
    clock.advance(HOUR_MS)
    with bob.keys() as keys:
        plan = keys.plan_key_maintenance(directory.status("bob", 1))
    assert plan.signed_prekey is not None and plan.signed_prekey.id == 2
    assert plan.identity is None and plan.prekeys == ()
    directory.upload("bob", 1, plan)
    with bob.keys() as keys:
        keys.commit_key_maintenance(plan)
        assert keys.plan_key_maintenance(directory.status("bob", 1)).is_empty

    # the retired key still decrypts a late PreKey message
    assert bob.receive(alice, late) == b"sent before the rotation"

    clock.advance(30 * DAY_MS - 1)
    with bob.keys() as keys:
        assert keys.cleanup().signed_prekeys_deleted == 0
        assert keys.signed_prekeys.containsSignedPreKey(1)
    clock.advance(1)
    with bob.keys() as keys:
        result = keys.cleanup()
        assert result.signed_prekeys_deleted == 1
        assert not keys.signed_prekeys.containsSignedPreKey(1)
        assert keys.signed_prekeys.containsSignedPreKey(2)


def test_a_signed_prekey_missing_on_the_server_is_replaced_with_a_fresh_id(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    bob = make_account("bob")
    wiped = replace(directory.status("bob", 1), signed_prekey=None)
    with bob.keys() as keys:
        plan = keys.plan_key_maintenance(wiped)
    assert plan.signed_prekey is not None and plan.signed_prekey.id == 2


def test_one_time_prekeys_are_topped_up_below_twenty_with_fresh_ids(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    bob = make_account("bob")
    published = directory.devices[("bob", 1)].prekeys
    for prekey_id in list(published)[:80]:
        del published[prekey_id]
    assert len(published) == 20
    with bob.keys() as keys:
        assert keys.plan_key_maintenance(directory.status("bob", 1)).is_empty
    del published[min(published)]
    with bob.keys() as keys:
        plan = keys.plan_key_maintenance(directory.status("bob", 1))
    assert [p.id for p in plan.prekeys] == list(range(101, 182))  # 19 + 81 = 100
    directory.upload("bob", 1, plan)
    with bob.keys() as keys:
        keys.commit_key_maintenance(plan)
    assert len(published) == 100


def test_prekey_ids_never_repeat_and_stop_at_the_24_bit_limit(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    bob = make_account("bob")
    empty = ServerKeyStatus(None, None, 0)
    with bob.keys() as keys:
        first = [p.id for p in keys.plan_key_maintenance(replace(empty, prekeys_count=19)).prekeys]
    with bob.keys() as keys:
        # uncommitted keys are offered again rather than made anew...
        again = [p.id for p in keys.plan_key_maintenance(replace(empty, prekeys_count=19)).prekeys]
        assert again == first
        # ...and a bigger top-up continues the counter
        more = [p.id for p in keys.plan_key_maintenance(empty).prekeys]
    assert more[: len(first)] == first and more[len(first) :] == list(range(182, 201))
    with bob.conn() as conn:
        conn.execute("UPDATE kv SET value = 16777200 WHERE key = 'signal.next_prekey_id'")
        conn.execute("UPDATE prekeys SET uploaded_at = 1")
    with bob.keys() as keys:
        before = bob.digest()
        with pytest.raises(SignalError):
            keys.plan_key_maintenance(empty)
        assert bob.digest() == before


def test_a_used_prekey_is_kept_seven_days(
    make_account: MakeAccount, directory: KeyDirectory, clock: Clock
) -> None:
    bob, alice = make_account("bob"), make_account("alice")
    alice.connect_to(directory, "bob")
    assert bob.receive(alice, alice.send(bob, b"hi")) == b"hi"
    with bob.keys() as keys:
        assert keys.prekeys.containsPreKey(1) and keys.prekeys.is_used(1)
        assert not keys.prekeys.is_used(2)
        # a used key is never offered to the server again
        assert [p.id for p in keys.public_keys_for_upload().prekeys] == list(range(2, 101))
    clock.advance(7 * DAY_MS - 1)
    with bob.keys() as keys:
        assert keys.cleanup().prekeys_deleted == 0
    clock.advance(1)
    with bob.keys() as keys:
        assert keys.cleanup().prekeys_deleted == 1
        assert not keys.prekeys.containsPreKey(1)
        assert keys.prekeys.containsPreKey(2)


def test_two_senders_handed_the_same_prekey_both_get_through(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    # The PeerWave server may hand one one-time prekey to two senders.
    bob, alice, carol = make_account("bob"), make_account("alice"), make_account("carol")
    (for_alice,) = directory.bundle("bob", keep=True)
    (for_carol,) = directory.bundle("bob", keep=True)
    assert for_alice.prekey_id == for_carol.prekey_id == 1
    with alice.keys() as keys:
        keys.process_bundle("bob", [for_alice])
    with carol.keys() as keys:
        keys.process_bundle("bob", [for_carol])
    from_alice = alice.send(bob, b"from alice")
    from_carol = carol.send(bob, b"from carol")
    assert bob.receive(alice, from_alice) == b"from alice"
    assert bob.receive(carol, from_carol) == b"from carol"
    assert alice.receive(bob, bob.send(alice, b"to alice")) == b"to alice"
    assert carol.receive(bob, bob.send(carol, b"to carol")) == b"to carol"


def test_bare_python_axolotl_loses_the_second_senders_message() -> None:
    # The same scenario with python-axolotl's own store, which deletes on removePreKey.
    bob = InMemoryAxolotlStore()
    pair = Curve.generateKeyPair()
    signed_pair = Curve.generateKeyPair()
    signature = Curve.calculateSignature(
        bob.getIdentityKeyPair().getPrivateKey(), signed_pair.getPublicKey().serialize()
    )
    bob.storePreKey(7, PreKeyRecord(7, pair))
    bob.storeSignedPreKey(1, SignedPreKeyRecord(1, 0, signed_pair, signature))
    bundle = PreKeyBundle(
        bob.getLocalRegistrationId(),
        1,
        7,
        pair.getPublicKey(),
        1,
        signed_pair.getPublicKey(),
        signature,
        bob.getIdentityKeyPair().getPublicKey(),
    )
    messages = []
    for name in ("alice", "carol"):
        sender = InMemoryAxolotlStore()
        SessionBuilder(sender, sender, sender, sender, "bob", 1).processPreKeyBundle(bundle)
        messages.append(
            (name, SessionCipher(sender, sender, sender, sender, "bob", 1).encrypt(b"hi"))
        )
    (first_name, first), (second_name, second) = messages
    cipher = SessionCipher(bob, bob, bob, bob, first_name, 1)
    assert cipher.decryptPkmsg(PreKeyWhisperMessage(serialized=first.serialize())) == b"hi"
    with pytest.raises(InvalidKeyIdException):
        SessionCipher(bob, bob, bob, bob, second_name, 1).decryptPkmsg(
            PreKeyWhisperMessage(serialized=second.serialize())
        )

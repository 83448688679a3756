"""Each hardening of python-axolotl, shown twice: the bare library misbehaves in the
scenario (``bare_axolotl`` puts its own functions back for that test), ours does not.

The scenarios run the real library code over our SQLCipher-backed stores.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

import pytest
from axolotl.ecc.curve import Curve
from axolotl.groups.groupsessionbuilder import GroupSessionBuilder
from axolotl.groups.senderkeyname import SenderKeyName
from axolotl.protocol import whisperprotos_pb2
from axolotl.protocol.senderkeydistributionmessage import SenderKeyDistributionMessage

from peerwave_tui.errors import UndecryptableMessageError
from peerwave_tui.signal import hardening
from peerwave_tui.signal.addresses import axolotl_address
from tests.signal.support import (
    Account,
    KeyDirectory,
    skip_group_chain,
    skip_sending_chain,
    stored_message_keys,
)

MakeAccount = Callable[..., Account]
GROUP = "5d1f8a54-0000-4000-8000-000000000001"


def test_patches_are_installed_once() -> None:
    assert hardening.is_applied()
    before = [owner.__dict__[name] for owner, name, _ in hardening.bare_functions()]
    hardening.apply()
    after = [owner.__dict__[name] for owner, name, _ in hardening.bare_functions()]
    assert before == after
    assert all(f is not b for f, (_, _, b) in zip(after, hardening.bare_functions(), strict=True))


# --- at most 2000 skipped message keys per 1:1 chain --------------------------------------


def _skipped_keys_scenario(alice: Account, bob: Account, directory: KeyDirectory) -> dict:
    """Bob gets message 2000, then 2600, of a chain: 1999 + 599 keys to keep."""
    alice.connect_to(directory, "bob")
    assert bob.receive(alice, alice.send(bob, b"0")) == b"0"
    with alice.keys() as keys:
        m1 = keys.encrypt("bob", 1, b"1")
        skip_sending_chain(keys, "bob", 1, 598)
        m600 = keys.encrypt("bob", 1, b"600")
        skip_sending_chain(keys, "bob", 1, 1399)
        m2000 = keys.encrypt("bob", 1, b"2000")
        skip_sending_chain(keys, "bob", 1, 599)
        m2600 = keys.encrypt("bob", 1, b"2600")
    assert bob.receive(alice, m2000) == b"2000"
    assert bob.receive(alice, m2600) == b"2600"
    with bob.keys() as keys:
        stored = stored_message_keys(keys, "alice", 1)
    outcome: dict = {"stored": stored}
    for name, message in (("oldest", m1), ("kept", m600)):
        try:
            outcome[name] = bob.receive(alice, message)
        except UndecryptableMessageError:
            outcome[name] = None
    return outcome


def test_skipped_message_keys_are_capped_at_2000_per_chain(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    outcome = _skipped_keys_scenario(make_account("alice"), make_account("bob"), directory)
    assert outcome == {"stored": 2000, "oldest": None, "kept": b"600"}


def test_bare_library_keeps_every_skipped_message_key(
    make_account: MakeAccount, directory: KeyDirectory, bare_axolotl: None
) -> None:
    outcome = _skipped_keys_scenario(make_account("alice"), make_account("bob"), directory)
    assert outcome == {"stored": 2598, "oldest": b"1", "kept": b"600"}


# --- groups: 2000 keys per sender-key state, 5 states, nothing 2000+ ahead ------------------


def _group(alice: Account, bob: Account, directory: KeyDirectory) -> None:
    alice.connect_to(directory, "bob")
    with alice.keys() as keys:
        distribution = keys.create_sender_key(GROUP)
    with bob.keys() as keys:
        assert keys.process_distribution(GROUP, "alice", 1, distribution)


def _group_receive(bob: Account, payload: bytes) -> bytes | None:
    with bob.keys() as keys:
        try:
            return keys.group_decrypt(GROUP, "alice", 1, payload)
        except UndecryptableMessageError:
            return None


def _sender_message_keys(bob: Account) -> int:
    with bob.keys() as keys:
        record = keys.sender_keys.loadSenderKey(SenderKeyName(GROUP, axolotl_address("alice", 1)))
    return sum(len(s.getStructure().senderMessageKeys) for s in record.senderKeyStates)


def _group_skipped_keys_scenario(alice: Account, bob: Account, directory: KeyDirectory) -> dict:
    _group(alice, bob, directory)
    with alice.keys() as keys:
        m0 = keys.group_encrypt(GROUP, b"0")
        skip_group_chain(keys, GROUP, 599)
        m600 = keys.group_encrypt(GROUP, b"600")
        skip_group_chain(keys, GROUP, 1399)
        m2000 = keys.group_encrypt(GROUP, b"2000")
        skip_group_chain(keys, GROUP, 599)
        m2600 = keys.group_encrypt(GROUP, b"2600")
    assert _group_receive(bob, m2000) == b"2000"
    assert _group_receive(bob, m2600) == b"2600"
    return {
        "stored": _sender_message_keys(bob),
        "oldest": _group_receive(bob, m0),
        "kept": _group_receive(bob, m600),
    }


def test_group_message_keys_are_capped_at_2000(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    outcome = _group_skipped_keys_scenario(make_account("alice"), make_account("bob"), directory)
    assert outcome == {"stored": 2000, "oldest": None, "kept": b"600"}


def test_bare_library_keeps_every_group_message_key(
    make_account: MakeAccount, directory: KeyDirectory, bare_axolotl: None
) -> None:
    outcome = _group_skipped_keys_scenario(make_account("alice"), make_account("bob"), directory)
    assert outcome == {"stored": 2599, "oldest": b"0", "kept": b"600"}


def _far_future_scenario(alice: Account, bob: Account, directory: KeyDirectory) -> dict:
    _group(alice, bob, directory)
    with alice.keys() as keys:
        skip_group_chain(keys, GROUP, 2001)
        far = keys.group_encrypt(GROUP, b"far ahead")
    before = bob.digest()
    plaintext = _group_receive(bob, far)
    return {"plaintext": plaintext, "rows changed": bob.digest() != before}


def test_group_messages_over_2000_ahead_are_rejected(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    outcome = _far_future_scenario(make_account("alice"), make_account("bob"), directory)
    assert outcome == {"plaintext": None, "rows changed": False}


def test_bare_library_accepts_group_messages_far_ahead(
    make_account: MakeAccount, directory: KeyDirectory, bare_axolotl: None
) -> None:
    outcome = _far_future_scenario(make_account("alice"), make_account("bob"), directory)
    assert outcome == {"plaintext": b"far ahead", "rows changed": True}


def _distribution(key_id: int) -> SenderKeyDistributionMessage:
    signing = Curve.generateKeyPair().getPublicKey()
    return SenderKeyDistributionMessage(key_id, 0, os.urandom(32), signing)


def _sender_key_states_scenario(bob: Account) -> list[int]:
    """Seven sender keys of one member, then the last one again: states held after each."""
    name = SenderKeyName(GROUP, axolotl_address("alice", 1))
    distributions = [_distribution(key_id) for key_id in range(100, 107)]
    counts = []
    with bob.keys() as keys:
        builder = GroupSessionBuilder(keys.sender_keys)
        for distribution in [*distributions, distributions[-1]]:
            builder.process(name, SenderKeyDistributionMessage(serialized=distribution.serialize()))
            counts.append(len(keys.sender_keys.loadSenderKey(name).senderKeyStates))
    return counts


def test_at_most_five_sender_key_states_and_no_duplicates(make_account: MakeAccount) -> None:
    assert _sender_key_states_scenario(make_account("bob")) == [1, 2, 3, 4, 5, 5, 5, 5]


def test_bare_library_keeps_every_sender_key_state(
    make_account: MakeAccount, bare_axolotl: None
) -> None:
    assert _sender_key_states_scenario(make_account("bob")) == [1, 2, 3, 4, 5, 6, 7, 8]


# --- constant-time MAC comparison ------------------------------------------------------------


def _mac_comparisons(
    alice: Account, bob: Account, directory: KeyDirectory, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[bytes, bytes]]:
    alice.connect_to(directory, "bob")
    message = alice.send(bob, b"hello")
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((bytes(a), bytes(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert bob.receive(alice, message) == b"hello"
    return calls


def test_the_mac_is_compared_in_constant_time(
    make_account: MakeAccount, directory: KeyDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _mac_comparisons(make_account("alice"), make_account("bob"), directory, monkeypatch)
    assert len(calls) == 1 and len(calls[0][0]) == len(calls[0][1]) == 8


def test_bare_library_compares_the_mac_with_equality(
    make_account: MakeAccount,
    directory: KeyDirectory,
    monkeypatch: pytest.MonkeyPatch,
    bare_axolotl: None,
) -> None:
    calls = _mac_comparisons(make_account("alice"), make_account("bob"), directory, monkeypatch)
    assert calls == []


# --- a PreKey message without a one-time prekey ---------------------------------------------


def _no_one_time_prekey_scenario(
    alice: Account, bob: Account, directory: KeyDirectory
) -> bytes | None:
    with alice.keys() as keys:
        keys.process_bundle("bob", directory.bundle("bob", take_prekey=False))
    try:
        return bob.receive(alice, alice.send(bob, b"hello"))
    except UndecryptableMessageError:
        return None


def test_a_prekey_message_without_one_time_prekey_decrypts(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    result = _no_one_time_prekey_scenario(make_account("alice"), make_account("bob"), directory)
    assert result == b"hello"


def test_bare_library_looks_for_prekey_zero(
    make_account: MakeAccount, directory: KeyDirectory, bare_axolotl: None
) -> None:
    result = _no_one_time_prekey_scenario(make_account("alice"), make_account("bob"), directory)
    assert result is None


# --- a PreKey message for a known session must carry that session's identity key --------


def _forged_identity_scenario(
    alice: Account, bob: Account, carol: Account, directory: KeyDirectory
) -> dict:
    """Bob has Alice's first message; her second one arrives with Carol's identity key
    in place of hers (the MAC does not cover that field)."""
    alice.connect_to(directory, "bob")
    first, second = alice.send(bob, b"first"), alice.send(bob, b"second")
    assert bob.receive(alice, first) == b"first"
    proto = whisperprotos_pb2.PreKeyWhisperMessage()
    proto.ParseFromString(second[1][1:])
    with carol.keys() as keys:
        proto.identityKey = keys.identity_key()
    forged = second[1][:1] + proto.SerializeToString()
    before = bob.digest()
    with bob.keys() as keys:
        try:
            result = keys.decrypt("alice", 1, 3, forged)
            outcome: dict = {
                "plaintext": result.plaintext,
                "events": [str(e.kind) for e in result.trust_events],
            }
        except UndecryptableMessageError:
            outcome = {"plaintext": None, "events": []}
    outcome["rows changed"] = bob.digest() != before
    return outcome


def test_a_forged_identity_in_a_later_prekey_message_is_rejected(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    outcome = _forged_identity_scenario(
        make_account("alice"), make_account("bob"), make_account("carol"), directory
    )
    assert outcome == {"plaintext": None, "events": [], "rows changed": False}


def test_bare_library_records_the_forged_identity(
    make_account: MakeAccount, directory: KeyDirectory, bare_axolotl: None
) -> None:
    outcome = _forged_identity_scenario(
        make_account("alice"), make_account("bob"), make_account("carol"), directory
    )
    assert outcome == {"plaintext": b"second", "events": ["identity_changed"], "rows changed": True}


def test_the_faster_receiving_chain_lookup_finds_what_the_library_finds(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    for _ in range(4):  # several ratchet steps: several receiving chains
        assert bob.receive(alice, alice.send(bob, b"a")) == b"a"
        assert alice.receive(bob, bob.send(alice, b"b")) == b"b"
    (original,) = [f for o, n, f in hardening.bare_functions() if n == "getReceiverChain"]
    with alice.keys() as keys:
        state = keys.sessions.loadSession("bob.1", 1).getSessionState()
    chains = state.getStructure().receiverChains
    assert len(chains) >= 4
    stranger = Curve.generateKeyPair().getPublicKey()
    for key in [Curve.decodePoint(bytearray(c.senderRatchetKey), 0) for c in chains] + [stranger]:
        ours, theirs = state.getReceiverChain(key), original(state, key)
        if theirs is None:
            assert ours is None
        else:
            assert ours[1] == theirs[1] and ours[0] == theirs[0]

"""1:1 round trips through our SQLCipher-backed stores, reopened from disk every step."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from axolotl.invalidmessageexception import InvalidMessageException
from axolotl.protocol.prekeywhispermessage import PreKeyWhisperMessage
from axolotl.sessioncipher import SessionCipher

from peerwave_tui.errors import (
    MalformedMessageError,
    NoSessionError,
    UndecryptableMessageError,
    UntrustedIdentityError,
)
from peerwave_tui.signal import TrustEventKind
from peerwave_tui.storage.tx import transaction
from tests.signal.support import Account, KeyDirectory, table_digest, tamper_inner

MakeAccount = Callable[..., Account]


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def test_first_messages_are_prekey_messages_until_the_peer_replies(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    events = alice.connect_to(directory, "bob")
    assert [(e.kind, e.user_id, e.device_id) for e in events] == [
        (TrustEventKind.NEW_DEVICE, "bob", 1)
    ]

    first = [alice.send(bob, f"hello {i}".encode()) for i in range(3)]
    assert [m[0] for m in first] == [3, 3, 3]
    for i, message in enumerate(first):
        assert bob.receive(alice, message) == f"hello {i}".encode()

    reply = bob.send(alice, b"hi alice")
    assert reply[0] == 2
    assert alice.receive(bob, reply) == b"hi alice"
    after = alice.send(bob, b"now a plain message")
    assert after[0] == 2
    assert bob.receive(alice, after) == b"now a plain message"


def test_first_message_reports_the_new_device_to_the_receiver(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    message = alice.send(bob, b"hello")
    with bob.keys() as keys:
        result = keys.decrypt("alice", 1, *message)
    assert result.plaintext == b"hello"
    assert [(e.kind, e.user_id) for e in result.trust_events] == [
        (TrustEventKind.NEW_DEVICE, "alice")
    ]


def test_out_of_order_delivery_in_both_directions_with_ratchet_steps(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    assert bob.receive(alice, alice.send(bob, b"start")) == b"start"

    for turn in range(3):
        to_bob = [(i, alice.send(bob, f"a{turn}.{i}".encode())) for i in range(5)]
        for i, message in [to_bob[4], to_bob[1], to_bob[3], to_bob[0], to_bob[2]]:
            assert bob.receive(alice, message) == f"a{turn}.{i}".encode()
        to_alice = [(i, bob.send(alice, f"b{turn}.{i}".encode())) for i in range(4)]
        for i, message in [to_alice[3], to_alice[0], to_alice[2], to_alice[1]]:
            assert alice.receive(bob, message) == f"b{turn}.{i}".encode()


def test_a_message_delayed_across_several_ratchet_steps_still_decrypts(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    assert bob.receive(alice, alice.send(bob, b"start")) == b"start"
    delayed = alice.send(bob, b"late")
    for turn in range(3):
        assert alice.receive(bob, bob.send(alice, f"b{turn}".encode())) == f"b{turn}".encode()
        assert bob.receive(alice, alice.send(bob, f"a{turn}".encode())) == f"a{turn}".encode()
    assert bob.receive(alice, delayed) == b"late"


def test_three_accounts_keep_their_sessions_apart(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob, carol = make_account("alice"), make_account("bob"), make_account("carol")
    alice.connect_to(directory, "bob")
    carol.connect_to(directory, "bob")
    alice.connect_to(directory, "carol")

    assert bob.receive(alice, alice.send(bob, b"from alice")) == b"from alice"
    assert bob.receive(carol, carol.send(bob, b"from carol")) == b"from carol"
    assert carol.receive(alice, alice.send(carol, b"alice to carol")) == b"alice to carol"
    assert alice.receive(bob, bob.send(alice, b"bob to alice")) == b"bob to alice"
    assert carol.receive(bob, bob.send(carol, b"bob to carol")) == b"bob to carol"

    from_alice = alice.send(bob, b"second from alice")
    assert from_alice[0] == 2
    before = bob.digest()
    with bob.keys() as keys, pytest.raises(UndecryptableMessageError):
        keys.decrypt("carol", 1, *from_alice)  # right bytes, wrong sender
    assert bob.digest() == before
    assert bob.receive(alice, from_alice) == b"second from alice"
    with bob.keys() as keys:
        assert keys.has_session("alice", 1) and keys.has_session("carol", 1)
        assert not keys.has_session("alice", 2)


def test_a_prekey_message_under_another_known_sender_shows_an_identity_change(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    # A PreKey message carries its sender's identity key; the address is only what the
    # server claims. Relabelled, it is not silently attributed: the device's key changed.
    alice, bob, carol = make_account("alice"), make_account("bob"), make_account("carol")
    alice.connect_to(directory, "bob")
    carol.connect_to(directory, "bob")
    assert bob.receive(carol, carol.send(bob, b"from carol")) == b"from carol"
    with bob.keys() as keys:
        result = keys.decrypt("carol", 1, *alice.send(bob, b"from alice"))
        assert [(e.kind, e.user_id) for e in result.trust_events] == [
            (TrustEventKind.IDENTITY_CHANGED, "carol")
        ]
        with pytest.raises(UntrustedIdentityError):
            keys.check_can_send("carol")


def test_encrypt_without_a_session_says_so(make_account: MakeAccount) -> None:
    alice = make_account("alice")
    before = alice.digest()
    with alice.keys() as keys, pytest.raises(NoSessionError):
        keys.encrypt("bob", 1, b"hi")
    assert alice.digest() == before


def _assert_fails_without_changes(bob: Account, what: str, message: tuple[int, bytes]) -> None:
    before = bob.digest()
    with bob.keys() as keys, pytest.raises((MalformedMessageError, UndecryptableMessageError)):
        keys.decrypt("alice", 1, *message)
    assert bob.digest() == before, what


def test_a_failed_decrypt_leaves_every_signal_row_byte_identical(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    first = alice.send(bob, b"first")
    # before bob has any session: the first message, damaged in several ways
    for what, message in {
        "prekey message, bad MAC": (3, tamper_inner(first[1], -1)),
        "prekey message, tampered ciphertext": (3, tamper_inner(first[1], 40)),
        "prekey message, any bit flipped": (3, _flip(first[1], len(first[1]) // 2)),
        "garbage bytes": (3, os.urandom(200)),
        "garbage as a plain message": (2, os.urandom(200)),
        "empty": (2, b""),
        "protobuf crasher": (3, bytes.fromhex("3738353b3404")),
        "unknown cipher type": (4, first[1]),
        "plain message before any session": (2, first[1]),
    }.items():
        _assert_fails_without_changes(bob, what, message)

    assert bob.receive(alice, first) == b"first"
    second = alice.send(bob, b"second")
    # with a session from the first message
    _assert_fails_without_changes(bob, "replayed prekey message", first)
    _assert_fails_without_changes(bob, "second, bad MAC", (3, tamper_inner(second[1], -1)))
    assert bob.receive(alice, second) == b"second"
    _assert_fails_without_changes(bob, "replayed second message", second)

    assert alice.receive(bob, bob.send(alice, b"reply")) == b"reply"
    plain = alice.send(bob, b"plain")
    assert plain[0] == 2
    for what, message in {
        "tampered message": (2, _flip(plain[1], len(plain[1]) // 2)),
        "message with bad MAC": (2, _flip(plain[1], len(plain[1]) - 1)),
        "truncated message": (2, plain[1][:-3]),
        "plain message as prekey type": (3, plain[1]),
    }.items():
        _assert_fails_without_changes(bob, what, message)
    assert bob.receive(alice, plain) == b"plain"
    _assert_fails_without_changes(bob, "replayed message", plain)
    # and nothing broke: the conversation goes on
    assert bob.receive(alice, alice.send(bob, b"still fine")) == b"still fine"


def test_a_failed_first_message_saves_neither_identity_nor_session(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    # python-axolotl saves the sender's identity before it checks the MAC.
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    first = alice.send(bob, b"first")
    before = bob.digest()
    with bob.keys() as keys, pytest.raises(UndecryptableMessageError):
        keys.decrypt("alice", 1, 3, tamper_inner(first[1], -1))
    assert bob.digest() == before
    with bob.keys() as keys:
        assert keys.known_devices("alice") == []
        assert not keys.has_session("alice", 1)
    assert bob.receive(alice, first) == b"first"


@pytest.mark.parametrize("what", ["one-time prekey", "signed prekey"])
def test_unknown_prekey_id_fails_without_changes(
    make_account: MakeAccount, directory: KeyDirectory, what: str
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    (bundle,) = directory.bundle("bob")
    if what == "one-time prekey":
        bundle = type(bundle)(**{**bundle.__dict__, "prekey_id": 999_999})
    else:
        bundle = type(bundle)(**{**bundle.__dict__, "signed_prekey_id": 999_999})
    with alice.keys() as keys:
        keys.process_bundle("bob", [bundle])
    message = alice.send(bob, b"hello")
    before = bob.digest()
    with bob.keys() as keys, pytest.raises(UndecryptableMessageError):
        keys.decrypt("alice", 1, *message)
    assert bob.digest() == before


def test_a_failed_decrypt_inside_the_callers_transaction_rolls_back_only_itself(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    good = alice.send(bob, b"good")
    bad = (3, tamper_inner(good[1], -1))
    with bob.conn() as conn:
        from peerwave_tui.signal import KeyManager

        keys = KeyManager(conn, clock=bob.clock)
        with transaction(conn):
            conn.execute("INSERT INTO kv (key, value) VALUES ('test.marker', 1)")
            before = table_digest(conn)
            with pytest.raises(UndecryptableMessageError):
                keys.decrypt("alice", 1, *bad)
            assert table_digest(conn) == before
            assert keys.decrypt("alice", 1, *good).plaintext == b"good"
    with bob.conn() as conn:
        assert conn.execute("SELECT value FROM kv WHERE key = 'test.marker'").fetchone() == (1,)
    assert bob.receive(alice, alice.send(bob, b"next")) == b"next"


def test_records_come_back_as_bytes(make_account: MakeAccount, directory: KeyDirectory) -> None:
    # upb refuses bytearray/memoryview for bytes fields (signal-notes.md row 10)
    alice = make_account("alice")
    make_account("bob")
    alice.connect_to(directory, "bob")
    with alice.conn() as conn:
        for table in ("sessions", "prekeys", "signed_prekeys", "local_identity"):
            column = "identity_key_pair" if table == "local_identity" else "record"
            (value,) = conn.execute(f"SELECT {column} FROM {table} LIMIT 1").fetchone()
            assert type(value) is bytes, table
    with alice.keys() as keys:
        assert type(keys.encrypt("bob", 1, b"x")[1]) is bytes


def test_bare_library_saves_the_identity_of_a_message_that_fails(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    # signal-notes.md row 7, the reason every decrypt runs in a savepoint: the library
    # on its own, over the very same stores, keeps a row from a message that failed.
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    first = alice.send(bob, b"first")
    before = bob.digest()
    with bob.keys() as keys:
        cipher = SessionCipher(
            keys.sessions, keys.prekeys, keys.signed_prekeys, keys.identities, "alice.1", 1
        )
        with pytest.raises(InvalidMessageException):
            cipher.decryptPkmsg(PreKeyWhisperMessage(serialized=tamper_inner(first[1], -1)))
    after = bob.digest()
    assert after["identities"] != before["identities"]

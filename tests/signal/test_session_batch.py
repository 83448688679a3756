"""Session records kept in memory for a batch (``SessionStore.batch``): the tables a
batch commits are exactly those of the same operations done one at a time, a failed
decrypt inside a batch changes nothing, and a rolled-back batch leaves no trace."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from axolotl.ecc import curve

from peerwave_tui.errors import MalformedMessageError, UndecryptableMessageError
from peerwave_tui.signal import KeyManager
from peerwave_tui.signal.addresses import address_name
from peerwave_tui.storage.tx import transaction
from tests.signal.support import Account, KeyDirectory, table_digest, tamper_inner

MakeAccount = Callable[..., Account]
Message = tuple[int, bytes]
FAILS = (MalformedMessageError, UndecryptableMessageError)


def _flip_last(message: Message) -> Message:
    """The message with one bit of its MAC flipped."""
    if message[0] == 3:  # (alice never hears back: all hers are PreKey messages)
        return 3, tamper_inner(message[1], -1)
    data = bytearray(message[1])
    data[-1] ^= 0x01
    return message[0], bytes(data)


class _SeededRandom:
    """Stands in for ``os`` in python-axolotl's curve module: the same key pairs, in
    the same order, for both twins (a ratchet step makes a new one)."""

    def __init__(self) -> None:
        self._count = 0

    def urandom(self, size: int) -> bytes:
        self._count += 1
        return hashlib.sha256(self._count.to_bytes(8, "big")).digest()[:size]


def _twin(account: Account, tmp_path: Path) -> Account:
    """A second, byte-identical copy of a closed account's store."""
    twin = Account(tmp_path, account.name + "-twin", account.user_id, 1, account.clock)
    twin.key_hex = account.key_hex
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(account.path) + suffix)
        if source.exists():
            shutil.copyfile(source, Path(str(twin.path) + suffix))
    return twin


def _run(keys: KeyManager, steps: list[tuple[Message, bool]]) -> list[bytes]:
    out = []
    for message, ok in steps:
        if ok:
            out.append(keys.decrypt("alice", 1, *message).plaintext)
        else:
            with pytest.raises(FAILS):
                keys.decrypt("alice", 1, *message)
    return out


def test_a_batch_commits_what_one_operation_at_a_time_would(
    make_account: MakeAccount,
    directory: KeyDirectory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    msgs = [alice.send(bob, f"m{i}".encode()) for i in range(7)]
    twin = _twin(bob, tmp_path)
    batches: list[list[tuple[Message, bool]]] = [
        [
            (msgs[0], True),  # the PreKey message that makes the session
            (msgs[1], True),
            (_flip_last(msgs[2]), False),  # fails while the record has unwritten changes
            (msgs[2], True),
            (msgs[1], False),  # a replay
            (msgs[4], True),  # out of order: a skipped key is kept
            (msgs[3], True),
        ],
        [
            ((3, tamper_inner(msgs[0][1], -1)), False),  # fails on a freshly read record
            (msgs[5], True),
            (msgs[5], False),
        ],
    ]
    expected = [b"m0", b"m1", b"m2", b"m4", b"m3", b"m5"]

    _compare_with_twin(bob, twin, batches, expected, monkeypatch)
    assert bob.receive(alice, msgs[6]) == b"m6"


def test_a_batch_of_plain_messages_commits_what_one_at_a_time_would(
    make_account: MakeAccount,
    directory: KeyDirectory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SignalMessages (cipher type 2) are decrypted without a savepoint inside a batch.
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    assert bob.receive(alice, alice.send(bob, b"hello")) == b"hello"
    assert alice.receive(bob, bob.send(alice, b"reply")) == b"reply"
    msgs = [alice.send(bob, f"m{i}".encode()) for i in range(6)]
    assert {m[0] for m in msgs} == {2}
    twin = _twin(bob, tmp_path)
    batches: list[list[tuple[Message, bool]]] = [
        [
            (_flip_last(msgs[0]), False),  # fails on a freshly read record
            (msgs[0], True),
            (_flip_last(msgs[1]), False),  # fails while the record has unwritten changes
            ((2, msgs[1][1][:-3]), False),
            ((2, b"\x33" + bytes(40)), False),
            (msgs[2], True),
            (msgs[0], False),  # a replay
            (msgs[1], True),  # from the skipped keys
        ],
        [(msgs[1], False), (msgs[4], True), (msgs[3], True)],
    ]
    _compare_with_twin(bob, twin, batches, [b"m0", b"m2", b"m1", b"m4", b"m3"], monkeypatch)
    assert bob.receive(alice, msgs[5]) == b"m5"


def _compare_with_twin(
    bob: Account,
    twin: Account,
    batches: list[list[tuple[Message, bool]]],
    expected: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    got = []
    monkeypatch.setattr(curve, "os", _SeededRandom())
    for steps in batches:
        with bob.conn() as conn:
            keys = KeyManager(conn, clock=bob.clock)
            with transaction(conn), keys.sessions.batch():
                got += _run(keys, steps)
    one_by_one = []
    monkeypatch.setattr(curve, "os", _SeededRandom())
    for steps in batches:
        for step in steps:
            with twin.keys() as keys:
                one_by_one += _run(keys, [step])
    assert got == one_by_one == expected
    assert bob.digest() == twin.digest()


def test_a_failed_decrypt_in_a_batch_changes_no_row(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    first, second, third = (alice.send(bob, t) for t in (b"first", b"second", b"third"))
    with bob.conn() as conn:
        keys = KeyManager(conn, clock=bob.clock)
        with transaction(conn), keys.sessions.batch() as sessions:
            assert keys.decrypt("alice", 1, *first).plaintext == b"first"
            sessions.flush()
            before = table_digest(conn)
            for bad in (_flip_last(second), (3, tamper_inner(first[1], -1)), first):
                with pytest.raises(FAILS):
                    keys.decrypt("alice", 1, *bad)
                sessions.flush()
                assert table_digest(conn) == before
            assert keys.decrypt("alice", 1, *second).plaintext == b"second"
    assert bob.receive(alice, third) == b"third"


def test_a_rolled_back_batch_leaves_every_row_as_it_was(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    first, second = alice.send(bob, b"first"), alice.send(bob, b"second")
    before = bob.digest()
    with bob.conn() as conn:
        keys = KeyManager(conn, clock=bob.clock)
        with pytest.raises(RuntimeError), transaction(conn), keys.sessions.batch():
            assert keys.decrypt("alice", 1, *first).plaintext == b"first"
            assert keys.decrypt("alice", 1, *second).plaintext == b"second"
            raise RuntimeError("the caller's transaction fails")
    assert bob.digest() == before
    assert bob.receive(alice, first) == b"first"
    assert bob.receive(alice, second) == b"second"


def test_sessions_deleted_in_a_batch_stay_deleted_and_a_failure_restores_them(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    first, second = alice.send(bob, b"first"), alice.send(bob, b"second")
    assert bob.receive(alice, first) == b"first"
    with bob.conn() as conn:
        keys = KeyManager(conn, clock=bob.clock)
        with transaction(conn), keys.sessions.batch():
            assert keys.decrypt("alice", 1, *second).plaintext == b"second"  # unwritten
            name = address_name("alice", 1)
            assert keys.sessions.containsSession(name, 1)
            with pytest.raises(RuntimeError), keys._cipher.atomic():
                keys.sessions.deleteSession(name, 1)
                assert not keys.sessions.containsSession(name, 1)
                raise RuntimeError("the operation fails after deleting")
            assert keys.sessions.containsSession(name, 1)
            assert keys.sessions.getSubDeviceSessions("alice") == []
    with pytest.raises(FAILS):  # the committed record is the one that read "second"
        bob.receive(alice, second)
    assert bob.receive(alice, alice.send(bob, b"third")) == b"third"

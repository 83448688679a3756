"""The five stores keep python-axolotl's contracts over SQLCipher, and the mapping of
device addresses to local names is one-to-one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from axolotl.invalidkeyidexception import InvalidKeyIdException

from peerwave_tui.errors import NoLocalIdentityError, UndecryptableMessageError
from peerwave_tui.signal import KeyManager, ServerKeyStatus
from peerwave_tui.signal.addresses import address_name, parse_address_name
from peerwave_tui.storage.tx import transaction
from tests.signal.support import Account, Clock, KeyDirectory

MakeAccount = Callable[..., Account]


def test_address_names_round_trip() -> None:
    for user_id, device_id in [("0b6f3c1e-8a52-4c3e-9d0a-2f4b7e9c1a55", 3), ("a.b", 0)]:
        assert parse_address_name(address_name(user_id, device_id)) == (user_id, device_id)
    for bad in [("", 1), ("u", -1), ("u", True)]:
        with pytest.raises(ValueError):
            address_name(*bad)  # type: ignore[arg-type]
    for bad_name in ["nodevice", "u.", ".1", "u.x"]:
        with pytest.raises(ValueError):
            parse_address_name(bad_name)


def test_missing_rows_behave_as_python_axolotl_expects(make_account: MakeAccount) -> None:
    account = make_account("me")
    with account.keys() as keys:
        with pytest.raises(InvalidKeyIdException):
            keys.prekeys.loadPreKey(999)
        with pytest.raises(InvalidKeyIdException):
            keys.signed_prekeys.loadSignedPreKey(999)
        assert keys.sessions.loadSession("peer.1", 1).isFresh()
        assert not keys.sessions.containsSession("peer.1", 1)
        from axolotl.groups.senderkeyname import SenderKeyName

        from peerwave_tui.signal.addresses import axolotl_address

        assert keys.sender_keys.loadSenderKey(SenderKeyName("g", axolotl_address("p", 1))).isEmpty()
        assert len(keys.signed_prekeys.loadSignedPreKeys()) == 1


def test_a_store_without_identity_says_so(
    tmp_path: Path, clock: Clock, make_account: MakeAccount, directory: KeyDirectory
) -> None:
    make_account("bob")
    account = Account(tmp_path, "empty", "me", 1, clock)
    with account.keys() as keys:
        with pytest.raises(NoLocalIdentityError):
            keys.identity_key()
        with pytest.raises(NoLocalIdentityError):
            keys.plan_key_maintenance(ServerKeyStatus(None, None, 0))
        with pytest.raises(NoLocalIdentityError):
            keys.process_bundle("bob", directory.bundle("bob"))
        assert not keys.has_identity()


def test_session_store_contract(make_account: MakeAccount, directory: KeyDirectory) -> None:
    alice = make_account("alice")
    make_account("bob", 1)
    make_account("bob", 2)
    alice.connect_to(directory, "bob")
    with alice.keys() as keys:
        record = keys.sessions.loadSession("bob.1", 1)
        assert not record.isFresh()
        keys.sessions.storeSession("bob.1", 7, record)
        assert sorted(keys.sessions.getSubDeviceSessions("bob.1")) == [7]
        keys.sessions.deleteSession("bob.1", 7)
        assert keys.sessions.containsSession("bob.2", 2)
        keys.sessions.deleteAllSessions("bob.2")
        assert not keys.has_session("bob", 2) and keys.has_session("bob", 1)


def test_a_callers_rollback_after_our_success_leaves_no_stale_state(
    make_account: MakeAccount, directory: KeyDirectory
) -> None:
    # Nothing is cached across operations: if the caller's transaction rolls back
    # after a decrypt or encrypt succeeded, the ratchet is where the database says.
    alice, bob = make_account("alice"), make_account("bob")
    alice.connect_to(directory, "bob")
    message = alice.send(bob, b"hello")
    with bob.conn() as conn:
        keys = KeyManager(conn, clock=bob.clock)
        with pytest.raises(RuntimeError), transaction(conn):
            assert keys.decrypt("alice", 1, *message).plaintext == b"hello"
            raise RuntimeError("the history insert failed")
        assert keys.decrypt("alice", 1, *message).plaintext == b"hello"
    with alice.conn() as conn:
        keys = KeyManager(conn, clock=alice.clock)
        with pytest.raises(RuntimeError), transaction(conn):
            lost = keys.encrypt("bob", 1, b"never sent")
            raise RuntimeError("the outbox insert failed")
        again = keys.encrypt("bob", 1, b"sent")
    assert bob.receive(alice, again) == b"sent"
    with bob.keys() as keys, pytest.raises(UndecryptableMessageError):
        keys.decrypt("alice", 1, *lost)  # same message key as `again`: a duplicate

"""The receive pipeline's store half (``receiver.process_items``) on real SQLCipher
stores: one batch mixes genuine messages of one session with damaged ones and
replays; the genuine ones are stored in order, the damaged ones recorded as
undecryptable, and the session committed with the batch keeps working."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from pathlib import Path

from peerwave_tui.models import MessageKind
from peerwave_tui.receiver import Me, process_items
from peerwave_tui.storage.history import History
from peerwave_tui.wire import IncomingItem
from tests.signal.support import Account, Clock, KeyDirectory, table_digest, tamper_inner

NOW = 1_780_000_000_000


def _item(message: tuple[int, bytes], item_id: str | None = None) -> IncomingItem:
    return IncomingItem(
        sender="alice",
        sender_device_id=1,
        recipient="bob",
        type="message",
        payload=base64.b64encode(message[1]).decode("ascii"),
        cipher_type=message[0],
        item_id=item_id or str(uuid.uuid4()),
    )


def _flip(message: tuple[int, bytes]) -> tuple[int, bytes]:
    if message[0] == 3:
        return 3, tamper_inner(message[1], -1)
    data = bytearray(message[1])
    data[-1] ^= 0x01
    return message[0], bytes(data)


def _accounts(tmp_path: Path) -> tuple[Account, Account]:
    clock, directory = Clock(), KeyDirectory()
    made = []
    for name in ("alice", "bob"):
        account = Account(tmp_path, f"{name}-1", name, 1, clock)
        account.setup(directory)
        made.append(account)
    alice, bob = made
    alice.connect_to(directory, "bob")
    return alice, bob


def _texts(bob: Account) -> list[tuple[str, str]]:
    with bob.conn() as conn:
        return [(m.kind.value, m.text) for m in History(conn).page("alice", None, 100)]


def test_a_batch_with_damaged_and_replayed_messages(tmp_path: Path) -> None:
    alice, bob = _accounts(tmp_path)
    me = Me("bob", 1)
    send: Callable[[str], tuple[int, bytes]] = lambda t: alice.send(bob, t.encode())  # noqa: E731
    first = send("one")
    with bob.conn() as conn:  # the PreKey message first, on its own
        process_items(conn, [_item(first)], me, NOW)
    assert alice.receive(bob, bob.send(alice, b"ack")) == b"ack"
    two, three, four = send("two"), send("three"), send("four")
    assert {two[0], three[0], four[0]} == {2}
    replayed = _item(two)
    batch = [
        _item(_flip(three)),  # damaged, on a freshly read session
        replayed,
        _item(_flip(four)),  # damaged after a decrypt of this batch
        _item(three),
        _item(two),  # the same message again under another item id: a replay
        _item(four),
        replayed,  # the same item again: a duplicate, not decrypted twice
    ]
    with bob.conn() as conn:
        outcomes = process_items(conn, batch, me, NOW)
    assert [o.duplicate for o in outcomes] == [False] * 6 + [True]
    assert all(o.delete for o in outcomes)
    text, undecryptable = MessageKind.TEXT.value, MessageKind.UNDECRYPTABLE.value
    assert _texts(bob) == [
        (text, "one"),
        (undecryptable, ""),
        (text, "two"),
        (undecryptable, ""),
        (text, "three"),
        (undecryptable, ""),
        (text, "four"),
    ]
    assert bob.receive(alice, send("five")) == b"five"


def test_a_failed_batch_changes_nothing(tmp_path: Path) -> None:
    alice, bob = _accounts(tmp_path)
    me = Me("bob", 1)
    first, second = alice.send(bob, b"one"), alice.send(bob, b"two")
    with bob.conn() as conn:
        before = table_digest(conn)
        broken = IncomingItem(
            sender="alice",
            sender_device_id=2**70,  # SQLite cannot store it: the whole batch fails
            recipient="bob",
            type="message",
            payload="",
            cipher_type=2,
            item_id="broken",
        )
        try:
            process_items(conn, [_item(first), _item(second), broken], me, NOW)
        except Exception:  # noqa: BLE001 - any failure: what matters is what is left
            pass
        else:
            raise AssertionError("the batch should have failed")
        assert table_digest(conn) == before
        assert History(conn).page("alice", None, 10) == []
    assert bob.receive(alice, first) == b"one"
    assert bob.receive(alice, second) == b"two"

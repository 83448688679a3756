"""Receiving group items, at the store level with real keys and real SQLCipher files:
held items and their key arriving later, the 24-hour limit, items from before our
join, duplicates, messages too far ahead, floods of distributions."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from peerwave_tui.groups.inbound import (
    ALL_DISTRIBUTIONS_PER_MINUTE,
    DISTRIBUTIONS_PER_MINUTE,
    HOLD_FOR_MS,
    DistributionGate,
    accept_distribution,
    expire_held,
    process_group_item,
)
from peerwave_tui.groups.tables import GroupTables
from peerwave_tui.models import Channel, Direction, MessageKind
from peerwave_tui.receiver import Me
from peerwave_tui.storage.history import History
from peerwave_tui.storage.tx import transaction
from peerwave_tui.wire import GroupItem
from tests.signal.support import Account, Clock, KeyDirectory, skip_group_chain

GROUP = "5b0c7a4e-2d61-4f0e-8a3c-7e1d2c3b4a59"
NOW = 1_780_000_000_000


@pytest.fixture
def directory() -> KeyDirectory:
    return KeyDirectory()


@pytest.fixture
def accounts(tmp_path: Path, directory: KeyDirectory) -> Iterator[Callable[[str], Account]]:
    clock = Clock(NOW)

    def make(name: str) -> Account:
        account = Account(tmp_path, name, name, 1, clock)
        account.setup(directory)
        return account

    yield make


def _me(account: Account) -> Me:
    return Me(account.user_id, account.device_id)


def _send(sender: Account, text: bytes) -> str:
    with sender.keys() as keys:
        keys.create_sender_key(GROUP)
        return base64.b64encode(keys.group_encrypt(GROUP, text)).decode()


def _item(sender: Account, payload: str, item_id: str, at_ms: int = NOW) -> GroupItem:
    return GroupItem(
        item_id=item_id,
        channel_id=GROUP,
        sender=sender.user_id,
        sender_device=sender.device_id,
        type="message",
        payload=payload,
        cipher_type=4,
        timestamp=datetime.fromtimestamp(at_ms / 1000, UTC),
    )


def _receive(member: Account, item: GroupItem, *, live: bool = True, now: int = NOW) -> Any:
    with member.conn() as conn:
        history = History(conn)
        with transaction(conn):
            return process_group_item(history, item, _me(member), now, live=live)


def _distribution(sender: Account, member: Account, directory: KeyDirectory) -> bytes:
    """The sender's distribution as ``member`` decrypts it from its 1:1 envelope."""
    with sender.keys() as keys:
        if not keys.has_session(member.user_id, member.device_id):
            keys.process_bundle(member.user_id, directory.bundle(member.user_id))
        distribution = keys.create_sender_key(GROUP)
    return member.receive(sender, sender.send(member, distribution))


def _accept(member: Account, sender: Account, plaintext: bytes, gate: DistributionGate) -> Any:
    with member.conn() as conn:
        history = History(conn)
        with transaction(conn):
            return accept_distribution(
                history, GROUP, sender.user_id, sender.device_id, plaintext, _me(member), NOW, gate
            )


def _rows(member: Account, sql: str) -> list[Any]:
    with member.conn() as conn:
        return list(conn.execute(sql).fetchall())


def test_an_item_without_its_key_is_held_and_read_when_the_key_comes(
    accounts: Callable[[str], Account], directory: KeyDirectory
) -> None:
    alice, bob = accounts("alice"), accounts("bob")
    early = _item(alice, _send(alice, b"early bird"), "item-1")
    held = _receive(bob, early)
    assert held.message is None and not held.mark_read  # kept, stays on the server
    assert held.new_channel  # a channel bob did not know yet: its name is asked for
    assert _rows(bob, "SELECT COUNT(*) FROM messages") == [(0,)]
    assert _rows(bob, "SELECT item_id FROM group_held") == [("item-1",)]
    # The same item again (the next pending fetch): not decrypted twice, still held.
    again = _receive(bob, early)
    assert again.message is None and not again.mark_read

    released = _accept(bob, alice, _distribution(alice, bob, directory), DistributionGate())
    assert [m.text for m in released.messages] == ["early bird"]
    assert released.messages[0].direction is Direction.IN
    assert _rows(bob, "SELECT COUNT(*) FROM group_held") == [(0,)]
    # Now it is a message the user has not seen: it stays in the pending list.
    assert not _receive(bob, early).mark_read


def test_held_items_turn_undecryptable_after_24_hours(
    accounts: Callable[[str], Account],
) -> None:
    alice, bob = accounts("alice"), accounts("bob")
    _receive(bob, _item(alice, _send(alice, b"lost key"), "item-2"))
    with bob.conn() as conn:
        assert expire_held(conn, NOW + HOLD_FOR_MS - 1).messages == []  # not yet
        released = expire_held(conn, NOW + HOLD_FOR_MS + 1)
    assert [m.kind for m in released.messages] == [MessageKind.UNDECRYPTABLE]
    assert _rows(bob, "SELECT kind, reported FROM messages") == [("undecryptable", 0)]
    assert _rows(bob, "SELECT COUNT(*) FROM group_held") == [(0,)]


def test_items_from_before_our_join_are_dropped_quietly(
    accounts: Callable[[str], Account],
) -> None:
    alice, bob = accounts("alice"), accounts("bob")
    with bob.conn() as conn, transaction(conn):
        GroupTables(conn).upsert_channel(Channel(GROUP, "club"), NOW)
    old = _item(alice, _send(alice, b"before you came"), "item-3", at_ms=NOW - 1000)
    # From the pending list: dropped, and marked read so it leaves the list.
    dropped = _receive(bob, old, live=False)
    assert dropped.message is None and dropped.mark_read
    # Held first (it came live, say) and then expired: dropped as well, not shown.
    held = _item(alice, _send(alice, b"also before"), "item-4", at_ms=NOW - 500)
    _receive(bob, held, live=True)
    with bob.conn() as conn:
        released = expire_held(conn, NOW + HOLD_FOR_MS + 1)
    assert released.messages == [] and released.mark_read == ["item-4"]
    assert _rows(bob, "SELECT COUNT(*) FROM messages") == [(0,)]


def test_our_own_items_and_our_other_devices_items(
    accounts: Callable[[str], Account], directory: KeyDirectory, tmp_path: Path
) -> None:
    alice = accounts("alice")
    alice2 = Account(tmp_path, "alice-2", "alice", 2, Clock(NOW))
    alice2.setup(directory)
    payload = _send(alice, b"from the laptop")
    # This very device's item comes back in its pending list: marked read, not shown.
    own = _receive(alice, _item(alice, payload, "item-5"), live=False)
    assert own.message is None and own.mark_read
    # The other device holds the laptop's key: an outgoing message, nothing to read.
    _accept(alice2, alice, _distribution(alice, alice2, directory), DistributionGate())
    synced = _receive(alice2, _item(alice, payload, "item-5"))
    assert synced.message is not None and synced.message.direction is Direction.OUT
    assert synced.message.text == "from the laptop" and synced.mark_read


def test_a_message_too_far_ahead_is_undecryptable_and_harmless(
    accounts: Callable[[str], Account], directory: KeyDirectory
) -> None:
    alice, bob = accounts("alice"), accounts("bob")
    _accept(bob, alice, _distribution(alice, bob, directory), DistributionGate())
    with alice.keys() as keys:
        skip_group_chain(keys, GROUP, 2500)
    far = _receive(bob, _item(alice, _send(alice, b"far ahead"), "item-6"))
    assert far.message is not None and far.message.kind is MessageKind.UNDECRYPTABLE
    with alice.keys() as keys:
        keys.rotate_sender_key(GROUP)
    # Bob still reads Alice's next key once it comes.
    _accept(bob, alice, _distribution(alice, bob, directory), DistributionGate())
    ok = _receive(bob, _item(alice, _send(alice, b"still fine"), "item-7"))
    assert ok.message is not None and ok.message.text == "still fine"


def test_a_flood_of_distributions_is_capped(
    accounts: Callable[[str], Account], directory: KeyDirectory
) -> None:
    alice, bob = accounts("alice"), accounts("bob")
    gate = DistributionGate()
    used = 0
    for _ in range(DISTRIBUTIONS_PER_MINUTE + 5):
        with alice.keys() as keys:
            keys.rotate_sender_key(GROUP)
        before = _rows(bob, "SELECT record FROM sender_keys")
        _accept(bob, alice, _distribution(alice, bob, directory), gate)
        used += _rows(bob, "SELECT record FROM sender_keys") != before
    assert used == DISTRIBUTIONS_PER_MINUTE
    # A minute later the sender is heard again.
    assert gate.allow("alice", 1, GROUP, NOW + 60_000)


def test_a_device_joining_many_channels_gets_every_key_but_a_flood_is_capped(
    accounts: Callable[[str], Account], directory: KeyDirectory
) -> None:
    """A sender's pacer posts up to 25 distributions a minute, one per channel when a
    device of ours is new in many channels: none of them may be thrown away."""
    alice, bob = accounts("alice"), accounts("bob")
    gate = DistributionGate()
    groups = [f"5b0c7a4e-2d61-4f0e-8a3c-{n:012d}" for n in range(25)]
    for group in groups:
        with alice.keys() as keys:
            if not keys.has_session(bob.user_id, bob.device_id):
                keys.process_bundle(bob.user_id, directory.bundle(bob.user_id))
            distribution = keys.create_sender_key(group)
        plaintext = bob.receive(alice, alice.send(bob, distribution))
        with bob.conn() as conn:
            history = History(conn)
            with transaction(conn):
                accept_distribution(
                    history, group, alice.user_id, alice.device_id, plaintext, _me(bob), NOW, gate
                )
    with bob.keys() as keys:
        held = [keys.has_sender_key(g, alice.user_id, alice.device_id) for g in groups]
    assert all(held)
    # Over all channels, a device is still capped within the minute.
    used = sum(
        gate.allow(alice.user_id, alice.device_id, f"flood-{n}", NOW + 1)
        for n in range(ALL_DISTRIBUTIONS_PER_MINUTE)
    )
    assert used == ALL_DISTRIBUTIONS_PER_MINUTE - len(groups)


def test_garbage_group_items_are_recorded_as_undecryptable(
    accounts: Callable[[str], Account],
) -> None:
    alice, bob = accounts("alice"), accounts("bob")
    for n, payload in enumerate(["not base64!", base64.b64encode(b"\x00\x01").decode(), ""]):
        result = _receive(bob, _item(alice, payload, f"junk-{n}"))
        assert result.message is not None
        assert result.message.kind is MessageKind.UNDECRYPTABLE

"""Sending to a channel: the store-thread half (membership, our sender key, the
group outbox). Every function runs in the account's store thread, atomically.

Our sender key per channel (``KeyManager``: the key, and the original distribution
message made with it) has a generation here (``own_sender_keys``). Before each send
the member-device list is compared with the last one seen:

- a device (or a whole member) is gone → a new sender key (rotation): nobody has it
  yet, and whoever left cannot read what follows;
- a device is new → it lacks our key and gets the ORIGINAL distribution of the
  current key, so it can read every message sent under that key, not just those
  after the distribution (a distribution made later starts at the key's current
  iteration);
- the key has carried ``ROTATE_AFTER`` messages → rotation too: a late device can
  read at most 2000 messages past the original distribution.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from peerwave_tui.errors import NoSessionError, UntrustedIdentityError
from peerwave_tui.groups.tables import DONE, FAILED, QUEUED, SENT, GroupOutgoing, GroupTables
from peerwave_tui.models import Direction, MessageStatus
from peerwave_tui.signal import KeyManager
from peerwave_tui.storage.history import History
from peerwave_tui.storage.tx import transaction
from peerwave_tui.wire import MemberDevice

if TYPE_CHECKING:
    from peerwave_tui.receiver import Me

log = logging.getLogger(__name__)

ROTATE_AFTER = 1500  # messages per sender key (well below the 2000 a late device can skip)


@dataclass(frozen=True)
class MembershipPlan:
    generation: int  # of our current sender key
    rotated: bool
    lacking: list[tuple[str, int]]  # member devices without our current key (not this one)
    member_count: int
    count_changed: bool


def sync_membership(
    conn: Any, channel_id: str, devices: list[MemberDevice], me: Me, now_ms: int
) -> MembershipPlan:
    """Compare the member devices with the last ones seen, rotate our key if someone
    left (or it is worn), record the new list; say who lacks our current key."""
    tables = GroupTables(conn)
    keys = KeyManager(conn)
    with transaction(conn):
        current = {(d.user_id, d.device_id) for d in devices}
        known = tables.devices(channel_id)
        own = tables.own_key(channel_id)
        removed = set(known) - current
        rotated = False
        if own is None:
            # No key of ours for this membership yet. A key left from an earlier
            # membership (we left and came back) is replaced, not reused.
            if keys.has_own_sender_key(channel_id):
                keys.rotate_sender_key(channel_id)
                rotated = True
            else:
                keys.create_sender_key(channel_id)
            generation = tables.new_own_key(channel_id, now_ms)
        elif removed or own[1] >= ROTATE_AFTER or not keys.has_own_sender_key(channel_id):
            keys.rotate_sender_key(channel_id)
            generation = tables.new_own_key(channel_id, now_ms)
            rotated = True
            log.info("group sender key rotated (%d devices gone)", len(removed))
        else:
            generation = own[0]
        tables.replace_devices(
            channel_id, sorted(current), keep_keys=not rotated and own is not None
        )
        tables.mark_has_key(channel_id, me.user_id, me.device_id)
        count = len({user for user, _device in current})
        changed = tables.set_member_count(channel_id, count)
        lacking = [t for t in tables.lacking(channel_id) if t != (me.user_id, me.device_id)]
    return MembershipPlan(generation, rotated, lacking, count, changed)


def lacking_devices(
    conn: Any, channel_id: str, user_id: str | None, me: Me
) -> tuple[int, list[tuple[str, int]]] | None:
    """(generation, devices without our current key), or None without a key yet."""
    tables = GroupTables(conn)
    own = tables.own_key(channel_id)
    if own is None:
        return None
    lacking = [t for t in tables.lacking(channel_id, user_id) if t != (me.user_id, me.device_id)]
    return own[0], lacking


def devices_without_session(conn: Any, targets: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Target devices we have no 1:1 session with (their user's bundle is needed)."""
    keys = KeyManager(conn)
    return [(user, device) for user, device in targets if not keys.has_session(user, device)]


@dataclass(frozen=True)
class SealedDistribution:
    """Our key's original distribution, 1:1-encrypted for one device.

    Kept (in memory) while that device has not got it, and sent again as it is: a
    fresh 1:1 encryption for every retry would move our sending chain with that
    device one step each time, and after 2000 steps the device could no longer read
    anything from us (the current PeerWave server refuses every distribution to an
    offline device, and we retry before each of our group messages)."""

    generation: int
    message_type: int
    ciphertext: bytes
    identity: bytes | None  # the device's identity key it was encrypted for


def encrypt_distribution(
    conn: Any,
    channel_id: str,
    user_id: str,
    device_id: int,
    generation: int,
    reuse: SealedDistribution | None = None,
) -> SealedDistribution | None:
    """Our current key's ORIGINAL distribution, 1:1-encrypted for one device (``reuse``
    again when it was made for this key and this device's identity key); None when
    that cannot be done now (no session, an unaccepted identity change, or the key
    changed meanwhile)."""
    tables = GroupTables(conn)
    keys = KeyManager(conn)
    with transaction(conn):
        own = tables.own_key(channel_id)
        if own is None or own[0] != generation:
            return None
        try:
            keys.check_can_send(user_id)
            known = keys.identities.trusted_key(user_id, device_id)
            identity = known[0] if known is not None else None
            if (
                reuse is not None
                and reuse.generation == generation
                and reuse.identity is not None
                and reuse.identity == identity
                and keys.has_session(user_id, device_id)
            ):
                return reuse
            distribution = keys.create_sender_key(channel_id)  # the original, until rotation
            message_type, ciphertext = keys.encrypt(user_id, device_id, distribution)
        except (NoSessionError, UntrustedIdentityError) as exc:
            log.info("a member device cannot get our sender key now (%s)", type(exc).__name__)
            return None
        return SealedDistribution(generation, message_type, ciphertext, identity)


def mark_distributed(
    conn: Any, channel_id: str, user_id: str, device_id: int, generation: int
) -> None:
    """The device has our key now (delivered live, or stored for it by the server),
    unless the key changed in between."""
    tables = GroupTables(conn)
    with transaction(conn):
        own = tables.own_key(channel_id)
        if own is not None and own[0] == generation:
            tables.mark_has_key(channel_id, user_id, device_id)


def encrypt_group_item(conn: Any, item_id: str) -> GroupOutgoing | None:
    """The item ready to emit: encrypted under our current key (again, if the key was
    rotated since it was first encrypted and the server has not stored it). None when
    it needs nothing more (done or failed meanwhile)."""
    tables = GroupTables(conn)
    history = History(conn)
    keys = KeyManager(conn)
    with transaction(conn):
        item = tables.outgoing(item_id)
        if item is None or item.state not in (QUEUED, SENT):
            return None
        own = tables.own_key(item.channel_id)
        if own is None:
            raise NoSessionError("There is no sender key for this channel yet.")
        if item.payload is not None and item.generation == own[0]:
            return item
        text = history.message_text(item.message_id) if item.message_id is not None else None
        ciphertext = keys.group_encrypt(item.channel_id, (text or "").encode("utf-8"))
        tables.set_payload(item_id, base64.b64encode(ciphertext).decode("ascii"), own[0])
        tables.count_sent(item.channel_id)
        return tables.outgoing(item_id)


def mark_delivered(conn: Any, item_id: str) -> tuple[str, bool, bool] | None:
    """``groupItemDelivered``: (channel, message now STORED, mark our item read now)."""
    tables = GroupTables(conn)
    history = History(conn)
    with transaction(conn):
        item = tables.outgoing(item_id)
        if item is None:
            return None
        changed = False
        if item.state in (QUEUED, SENT):
            tables.set_state(item_id, DONE)
            changed = history.set_status(item_id, MessageStatus.STORED)
        return item.channel_id, changed, tables.take_own_read(item_id)


def fail_items(conn: Any, item_ids: list[str] | None, detail: str) -> list[tuple[str, str]]:
    """Give up the named items (None: every unconfirmed one); (item, channel) each."""
    tables = GroupTables(conn)
    history = History(conn)
    failed: list[tuple[str, str]] = []
    with transaction(conn):
        if item_ids is None:
            items = tables.unconfirmed()
        else:
            items = [i for i in (tables.outgoing(x) for x in item_ids) if i is not None]
        for item in items:
            if item.state not in (QUEUED, SENT):
                continue
            tables.set_state(item.item_id, FAILED, detail)
            history.set_status(item.item_id, MessageStatus.FAILED, detail)
            failed.append((item.item_id, item.channel_id))
    return failed


def record_read(
    conn: Any, item_id: str, reader: str, total_members: int, me: Me
) -> tuple[str, MessageStatus, str | None] | None:
    """``groupItemReadUpdate`` for our item: who read it. Returns (channel, status,
    detail) when it changed. We count ourselves out (our own devices mark our items
    read), and say "at least": some clients never mark group items read."""
    history = History(conn)
    if reader == me.user_id:
        return None
    with transaction(conn):
        message = history.message_by_item(item_id, sender=me.user_id)
        if message is None or message.direction is not Direction.OUT:
            return None
        if GroupTables(conn).channel(message.conversation_id) is None:
            return None  # not a group message of ours
        readers = GroupTables(conn).add_reader(item_id, reader)
        others = max(total_members - 1, readers)
        if readers >= others:
            status, detail = MessageStatus.READ, None
        else:
            status, detail = MessageStatus.STORED, f"read by at least {readers} of {others}"
        if message.status is MessageStatus.READ:
            return None
        history.set_status(item_id, status, detail)
        return message.conversation_id, status, detail


def requeue(conn: Any, item_id: str) -> str | None:
    """Retry a failed group item; its channel, or None when it is not one."""
    tables = GroupTables(conn)
    history = History(conn)
    with transaction(conn):
        item = tables.outgoing(item_id)
        if item is None or not tables.requeue(item_id):
            return None
        history.set_status(item_id, MessageStatus.PENDING)
        return item.channel_id


__all__ = [
    "ROTATE_AFTER",
    "MembershipPlan",
    "SealedDistribution",
    "devices_without_session",
    "encrypt_distribution",
    "encrypt_group_item",
    "fail_items",
    "lacking_devices",
    "mark_delivered",
    "mark_distributed",
    "record_read",
    "requeue",
    "sync_membership",
]

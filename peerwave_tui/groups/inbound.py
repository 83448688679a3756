"""Receiving group items and sender-key distributions: the store-thread half.

Every function here runs in the account's store thread, inside the caller's
transaction; each decrypt has its own savepoint (``KeyManager``), so a failure changes
no Signal row.

A group item (live ``groupItem``, a pending element, or one from the history
endpoint) is deduplicated by ``(sender, senderDevice, itemId)`` and then:

- from this very device: nothing to show; it is marked read on the server (so it
  leaves our pending list);
- of a channel we left, or a plaintext (cipherType 0): dropped quietly;
- older than our join (``channels.joined_at``; live items are never older): dropped
  quietly, since it was not meant for us and could not be read anyway;
- decrypted with the sender's key: a history row (an outgoing one when another of
  our devices sent it);
- without the sender's key yet: held (``group_held``) and tried again after every
  distribution from that device; after 24 hours it is shown as undecryptable;
- anything else that fails (a message too far ahead, garbage): undecryptable.

A distribution (live ``receiveSenderKeyDistribution`` or a stored
``signal:senderKeyDistribution`` item) is first decrypted 1:1, which keeps the session
with that device in step, and then stored, at most ``DISTRIBUTIONS_PER_MINUTE`` per
sender device a minute (a flood is decrypted but not used).
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from peerwave_tui.errors import MissingSenderKeyError, ProtocolError, SignalError
from peerwave_tui.groups.tables import GONE, SEEN, ChannelRow, GroupTables, HeldItem
from peerwave_tui.models import (
    ChatMessage,
    ConversationKind,
    Direction,
    MessageKind,
    MessageStatus,
)
from peerwave_tui.signal import KeyManager
from peerwave_tui.storage.history import History
from peerwave_tui.storage.tx import transaction
from peerwave_tui.trust import TrustNews, record_trust_events
from peerwave_tui.wire import GroupItem, IncomingItem, SenderKeyDistribution

if TYPE_CHECKING:
    from peerwave_tui.receiver import Me

log = logging.getLogger(__name__)

SENDER_KEY_CIPHER = 4
PLAINTEXT_CIPHER = 0
MESSAGE = "message"
HOLD_FOR_MS = 24 * 3600 * 1000  # a held item becomes "undecryptable" after this
MAX_HELD_PER_SENDER = 500  # per channel and sender device; more is a flood
DISTRIBUTIONS_PER_MINUTE = 20  # per sender device and channel; a real one: one per rotation
ALL_DISTRIBUTIONS_PER_MINUTE = 60  # per sender device over all channels
FUTURE_SLACK_MS = 5 * 60 * 1000  # item times further ahead are replaced by ours


class DistributionGate:
    """Caps how many distributions of one sender device are used per minute: per
    channel (an honest sender makes one per rotation) and over all channels (above
    any honest sender's pace: its server lets it post 30 a minute, and ours posts at
    most 25; a device that joins many channels at once gets one per channel from
    each member, all within a minute or two).

    Lives on the client and is only touched from its store thread."""

    def __init__(
        self,
        per_minute: int = DISTRIBUTIONS_PER_MINUTE,
        all_per_minute: int = ALL_DISTRIBUTIONS_PER_MINUTE,
    ) -> None:
        self.per_minute = per_minute
        self.all_per_minute = all_per_minute
        self._windows: dict[tuple[str, int, str | None], tuple[int, int]] = {}

    def allow(self, user_id: str, device_id: int, group_id: str, now_ms: int) -> bool:
        minute = now_ms // 60_000
        keys: tuple[tuple[str, int, str | None], ...] = (
            (user_id, device_id, group_id),
            (user_id, device_id, None),
        )
        limits = (self.per_minute, self.all_per_minute)
        counts = []
        for key in keys:
            start, count = self._windows.get(key, (minute, 0))
            counts.append(0 if start != minute else count)
        if any(count >= limit for count, limit in zip(counts, limits, strict=True)):
            return False
        for key, count in zip(keys, counts, strict=True):
            self._windows[key] = (minute, count + 1)
        if len(self._windows) > 10_000:  # bounded: forget old windows
            self._windows = {k: v for k, v in self._windows.items() if v[0] == minute}
        return True


@dataclass
class GroupResult:
    """What became of one group item, for the async side."""

    item_id: str
    channel_id: str
    message: ChatMessage | None = None
    mark_read: bool = False  # mark it read on the server now (it leaves our pending list)
    new_channel: bool = False  # a channel we did not know: learn its name
    nameless: set[str] = field(default_factory=set)


@dataclass
class Released:
    """Held items a distribution (or the 24-hour limit) released."""

    messages: list[ChatMessage] = field(default_factory=list)
    mark_read: list[str] = field(default_factory=list)
    nameless: set[str] = field(default_factory=set)

    def extend(self, other: Released) -> None:
        self.messages.extend(other.messages)
        self.mark_read.extend(other.mark_read)
        self.nameless |= other.nameless


@dataclass
class DistributionResult:
    released: Released = field(default_factory=Released)
    trust: TrustNews = field(default_factory=TrustNews)
    group_id: str | None = None


def from_pending(item: IncomingItem) -> GroupItem:
    """A pending element of a group (``channel_id`` set) as a group item."""
    assert item.channel_id is not None
    return GroupItem(
        item_id=item.item_id,
        channel_id=item.channel_id,
        sender=item.sender,
        sender_device=item.sender_device_id,
        type=item.type,
        payload=item.payload,
        cipher_type=item.cipher_type,
        timestamp=item.timestamp,
    )


def device_birth(conn: Any) -> int:
    """When this device's keys were made: it cannot have joined a channel earlier."""
    row = conn.execute("SELECT created_at FROM local_identity WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


# --- group items ------------------------------------------------------------------------


def process_group_item(
    history: History, item: GroupItem, me: Me, now_ms: int, *, live: bool
) -> GroupResult:
    """Dedupe, decrypt (or hold, or drop) and store one group item (``history`` is the
    caller's, so a batch's conversation updates are written once)."""
    conn = history.conn
    tables = GroupTables(conn)
    result = GroupResult(item.item_id, item.channel_id)
    if item.sender == me.user_id and item.sender_device == me.device_id:
        result.mark_read = True  # our own item, back in our pending list
        return result
    if not history.mark_processed(item.sender, item.sender_device, item.item_id, now_ms):
        state = tables.item_state(item.sender, item.sender_device, item.item_id)
        result.mark_read = state in (SEEN, GONE)
        return result
    channel = tables.channel(item.channel_id)
    if channel is None:
        tables.ensure_placeholder(item.channel_id, device_birth(conn))
        channel = tables.channel(item.channel_id)
        assert channel is not None
        result.new_channel = True
    sent_at = _item_time(item, now_ms)
    if channel.left_at is not None or item.cipher_type == PLAINTEXT_CIPHER:
        result.mark_read = True  # not ours to show (a plaintext is never a user's)
        return result
    if not live and sent_at < channel.joined_at:
        result.mark_read = True  # from before we joined: not for us
        return result
    keys = KeyManager(conn)
    try:
        result.message = _decrypt(history, keys, channel, item, sent_at, me)
    except MissingSenderKeyError:
        if tables.held_count(item.channel_id, item.sender, item.sender_device) >= (
            MAX_HELD_PER_SENDER
        ):
            log.warning("too many held group items from one device; not keeping more")
            result.message = _undecryptable(history, channel, item, sent_at, me)
        else:
            tables.hold(
                HeldItem(
                    item.sender,
                    item.sender_device,
                    item.item_id,
                    item.channel_id,
                    item.type,
                    item.payload,
                    sent_at,
                    now_ms,
                )
            )
    except SignalError as exc:
        log.info("a group item could not be decrypted (%s)", type(exc).__name__)
        result.message = _undecryptable(history, channel, item, sent_at, me)
    if result.message is not None:
        result.nameless = _nameless(history, result.message)
        if result.message.direction is Direction.OUT:
            result.mark_read = True  # sent by our other device: nothing to read
    return result


def _item_time(item: GroupItem, now_ms: int) -> int:
    if item.timestamp is None:
        return now_ms
    value = int(item.timestamp.timestamp() * 1000)
    return now_ms if value > now_ms + FUTURE_SLACK_MS else value


def _decrypt(
    history: History,
    keys: KeyManager,
    channel: ChannelRow,
    item: GroupItem | HeldItem,
    sent_at: int,
    me: Me,
) -> ChatMessage | None:
    """Decrypt into a history row; raises ``MissingSenderKeyError`` (hold it) or
    another ``SignalError`` (undecryptable)."""
    cipher_type = item.cipher_type if isinstance(item, GroupItem) else SENDER_KEY_CIPHER
    if cipher_type != SENDER_KEY_CIPHER:
        raise SignalError("A group item must be a sender-key message.")
    try:
        payload = base64.b64decode(item.payload, validate=True)
    except (binascii.Error, ValueError):
        raise SignalError("The group item is not valid base64.") from None
    plaintext = keys.group_decrypt(item.channel_id, item.sender, _device(item), payload)
    if item.type != MESSAGE:
        return _insert(
            history, channel, item, sent_at, me, MessageKind.UNSUPPORTED, "", item.type[:64]
        )
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        return _undecryptable(history, channel, item, sent_at, me)
    return _insert(history, channel, item, sent_at, me, MessageKind.TEXT, text)


def _device(item: GroupItem | HeldItem) -> int:
    return item.sender_device


def _undecryptable(
    history: History, channel: ChannelRow, item: GroupItem | HeldItem, sent_at: int, me: Me
) -> ChatMessage | None:
    return _insert(history, channel, item, sent_at, me, MessageKind.UNDECRYPTABLE, "")


def _insert(
    history: History,
    channel: ChannelRow,
    item: GroupItem | HeldItem,
    sent_at: int,
    me: Me,
    kind: MessageKind,
    body: str,
    detail: str | None = None,
) -> ChatMessage | None:
    own = item.sender == me.user_id  # another of our devices sent it
    return history.insert_message(
        conversation_id=channel.channel_id,
        conversation_kind=ConversationKind.GROUP,
        item_id=item.item_id,
        sender=item.sender,
        sender_device=_device(item),
        direction=Direction.OUT if own else Direction.IN,
        kind=kind,
        body=body,
        detail="".join(c if c.isprintable() else "?" for c in detail) if detail else None,
        status=MessageStatus.STORED if own else MessageStatus.RECEIVED,
        created_at=sent_at,
        unread=not own,
    )


def _nameless(history: History, message: ChatMessage) -> set[str]:
    return {message.sender_id} if history.contact_name(message.sender_id) is None else set()


# --- held items -----------------------------------------------------------------------


def retry_held(
    history: History, channel_id: str, sender: str, sender_device: int, me: Me
) -> Released:
    """A key of this sender device arrived: try its held items of the channel again."""
    conn = history.conn
    tables = GroupTables(conn)
    keys = KeyManager(conn)
    released = Released()
    channel = tables.channel(channel_id)
    for held in tables.held_from(channel_id, sender, sender_device):
        if channel is None:
            tables.unhold(held)
            continue
        try:
            message = _decrypt(history, keys, channel, held, held.sent_at, me)
        except MissingSenderKeyError:
            continue  # another key of theirs: maybe the next distribution
        except SignalError as exc:
            log.info("a held group item could not be decrypted (%s)", type(exc).__name__)
            message = _undecryptable(history, channel, held, held.sent_at, me)
        tables.unhold(held)
        if message is not None:
            released.messages.append(message)
            released.nameless |= _nameless(history, message)
            if message.direction is Direction.OUT:
                released.mark_read.append(held.item_id)
    return released


def expire_held(conn: Any, now_ms: int) -> Released:
    """Held items whose key did not come within 24 hours: shown as undecryptable
    (those from before our join are dropped quietly and marked read)."""
    tables = GroupTables(conn)
    history = History(conn)
    released = Released()
    with transaction(conn):
        history.defer_touches()
        for held in tables.held_before(now_ms - HOLD_FOR_MS):
            tables.unhold(held)
            channel = tables.channel(held.channel_id)
            if channel is None or channel.left_at is not None or held.sent_at < channel.joined_at:
                released.mark_read.append(held.item_id)
                continue
            message = history.insert_message(
                conversation_id=held.channel_id,
                conversation_kind=ConversationKind.GROUP,
                item_id=held.item_id,
                sender=held.sender,
                sender_device=held.sender_device,
                direction=Direction.IN,
                kind=MessageKind.UNDECRYPTABLE,
                body="",
                status=MessageStatus.RECEIVED,
                created_at=held.sent_at,
                unread=True,
            )
            if message is not None:
                released.messages.append(message)
                released.nameless |= _nameless(history, message)
        history.flush_touches()
    return released


# --- distributions --------------------------------------------------------------------


def accept_distribution(
    history: History,
    group_id: str,
    sender: str,
    sender_device: int,
    distribution: bytes,
    me: Me,
    now_ms: int,
    gate: DistributionGate,
) -> Released:
    """Store a member device's sender key (already decrypted 1:1) and release what
    it unlocks. A flood beyond the gate, or a broken message, is only logged."""
    if (sender, sender_device) == (me.user_id, me.device_id):
        return Released()
    if not gate.allow(sender, sender_device, group_id, now_ms):
        log.warning("too many sender key distributions from one device; ignoring one")
        return Released()
    keys = KeyManager(history.conn)
    try:
        if not keys.process_distribution(group_id, sender, sender_device, distribution):
            return Released()  # a key we hold already
    except SignalError as exc:
        log.info("a sender key distribution could not be used (%s)", type(exc).__name__)
        return Released()
    return retry_held(history, group_id, sender, sender_device, me)


def process_live_distribution(
    conn: Any, dist: SenderKeyDistribution, me: Me, now_ms: int, gate: DistributionGate
) -> DistributionResult:
    """``receiveSenderKeyDistribution``: decrypt it 1:1 from the sending device (in
    the store thread's order with every other 1:1 message), then use it."""
    from peerwave_tui.receiver import forget_stale_bundles

    result = DistributionResult(group_id=dist.group_id)
    if (dist.sender_id, dist.sender_device_id) == (me.user_id, me.device_id):
        return result
    keys = KeyManager(conn)
    history = History(conn)
    with transaction(conn):
        try:
            decrypted = keys.decrypt(
                dist.sender_id, dist.sender_device_id, dist.message_type, dist.ciphertext
            )
        except (SignalError, ProtocolError) as exc:
            log.info("a live key distribution could not be decrypted (%s)", type(exc).__name__)
            return result
        events = list(decrypted.trust_events)
        if events:
            forget_stale_bundles(history, events, me)
            result.trust = record_trust_events(conn, events, me.user_id, now_ms)
        history.defer_touches()
        result.released = accept_distribution(
            history,
            dist.group_id,
            dist.sender_id,
            dist.sender_device_id,
            decrypted.plaintext,
            me,
            now_ms,
            gate,
        )
        history.flush_touches()
    return result


__all__ = [
    "DistributionGate",
    "DistributionResult",
    "GroupResult",
    "Released",
    "accept_distribution",
    "expire_held",
    "from_pending",
    "process_group_item",
    "process_live_distribution",
    "retry_held",
]

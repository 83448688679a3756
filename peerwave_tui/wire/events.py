"""Message and socket event payloads (protocol.md §3.4, §5, §6.2–6.4).

Item payloads stay raw strings: the receiver must still dedupe and delete an item whose
ciphertext turns out to be garbage, so a bad ``payload`` is the decrypt layer's
business (it records "could not decrypt"), not a reason to drop the item here.
An item is dropped only when it cannot even be named (``itemId``, ``sender``,
``senderDeviceId``) or is absurdly large.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peerwave_tui.errors import ProtocolError
from peerwave_tui.wire import fields as f

SENDER_KEY_DISTRIBUTION_TYPE = "signal:senderKeyDistribution"
_MAX_TYPE_CHARS = 200


@dataclass(frozen=True)
class IncomingItem:
    """A 1:1 item (live ``receiveItem`` or a pending element), or a pending group item
    (then ``channel_id`` is set and ``cipher_type`` is 4)."""

    sender: str
    sender_device_id: int
    recipient: str | None
    type: str
    payload: str  # raw: b64 ciphertext, or a JSON string for signal:senderKeyDistribution
    cipher_type: int
    item_id: str
    original_recipient: str | None = None
    timestamp: datetime | None = None  # only pending items carry one
    channel_id: str | None = None

    @property
    def is_group(self) -> bool:
        return self.channel_id is not None

    @property
    def dedupe_key(self) -> tuple[str, int, str]:
        return (self.sender, self.sender_device_id, self.item_id)


@dataclass(frozen=True)
class GroupItem:
    """A live ``groupItem`` or an element of the group history endpoint."""

    item_id: str
    channel_id: str
    sender: str
    sender_device: int
    type: str
    payload: str  # raw b64 SenderKeyMessage
    cipher_type: int
    timestamp: datetime | None  # None when missing or unreadable

    @property
    def dedupe_key(self) -> tuple[str, int, str]:
        return (self.sender, self.sender_device, self.item_id)


@dataclass(frozen=True)
class PendingPage:
    """One ``pendingMessagesResponse`` page.

    ``skipped`` counts elements that could not be parsed. They stay on the server, so
    the pagination algorithm (protocol.md §5.5) counts them as remaining.
    """

    items: tuple[IncomingItem, ...]
    has_more: bool
    offset: int
    skipped: int = 0


@dataclass(frozen=True)
class PendingAvailable:
    count: int
    timestamp: datetime | None


@dataclass(frozen=True)
class DeliveryReceipt:
    """Means *stored on the server* ("sent"), not delivered (protocol.md §5.2)."""

    item_id: str
    recipient_user_id: str
    recipient_device_id: int
    delivered_at: datetime | None


@dataclass(frozen=True)
class DeleteAck:
    success: bool
    deleted_count: int


@dataclass(frozen=True)
class SenderKeyDistribution:
    """``receiveSenderKeyDistribution``, or the JSON payload of a stored
    ``signal:senderKeyDistribution`` item."""

    group_id: str
    sender_id: str
    sender_device_id: int
    distribution_message: str  # b64 of a 1:1 ciphertext (validated)
    message_type: int  # 2 or 3: the cipherType of that ciphertext

    @property
    def ciphertext(self) -> bytes:
        return f.decode_b64(self.distribution_message, "sender key distribution")


@dataclass(frozen=True)
class GroupItemDelivered:
    item_id: str
    delivered_count: int | None
    total_devices: int | None
    existing: bool = False  # a duplicate itemId: the server ignored it


@dataclass(frozen=True)
class GroupItemError:
    error: str
    item_id: str | None = None  # absent on the PeerWave server


@dataclass(frozen=True)
class GroupItemReadUpdate:
    item_id: str
    read_by: str
    read_by_device: int | None
    read_count: int
    total_members: int
    all_read: bool


@dataclass(frozen=True)
class PresenceUpdate:
    user_id: str
    online: bool
    last_seen: datetime | None


@dataclass(frozen=True)
class AuthSuccess:
    user_id: str
    device_id: int
    client_id: str | None


@dataclass(frozen=True)
class AuthFailure:
    error: str  # a short code such as "no_session" (bounded, printable)


# --- parsers --------------------------------------------------------------------------


def _cipher_type(d: Mapping[str, Any], what: str) -> int:
    return f.integer(d, "cipherType", what, minimum=0)


def parse_incoming_item(data: object, *, pending: bool = False) -> IncomingItem:
    what = "pending item" if pending else "incoming item"
    d = f.obj(data, what)
    channel = f.first_present(d, "channelId", "channel") if pending else None
    if channel is not None and (not isinstance(channel, str) or not 0 < len(channel) <= 200):
        raise ProtocolError(f"The server sent a malformed {what}: bad channel.")
    sender_device = f.first_present(d, "senderDeviceId", "senderDevice")
    device = f.to_int(sender_device)
    if device is None or device < 0:
        raise ProtocolError(f"The server sent a malformed {what}: bad sender device.")
    return IncomingItem(
        sender=f.string(d, "sender", what),
        sender_device_id=device,
        recipient=f.opt_string(d, "recipient", what),
        type=f.string(d, "type", what, limit=_MAX_TYPE_CHARS),
        payload=f.text(d, "payload", what, limit=f.MAX_PAYLOAD_CHARS),
        cipher_type=_cipher_type(d, what),
        item_id=f.string(d, "itemId", what),
        original_recipient=f.opt_string(d, "originalRecipient", what),
        timestamp=f.parse_time(d.get("timestamp")),
        channel_id=channel,
    )


def parse_group_item(data: object) -> GroupItem:
    what = "group item"
    d = f.obj(data, what)
    channel = f.first_present(d, "channel", "channelId")
    if not isinstance(channel, str) or not 0 < len(channel) <= 200:
        raise ProtocolError(f"The server sent a malformed {what}: bad channel.")
    device = f.to_int(f.first_present(d, "senderDevice", "senderDeviceId"))
    if device is None or device < 0:
        raise ProtocolError(f"The server sent a malformed {what}: bad sender device.")
    return GroupItem(
        item_id=f.string(d, "itemId", what),
        channel_id=channel,
        sender=f.string(d, "sender", what),
        sender_device=device,
        type=f.string(d, "type", what, limit=_MAX_TYPE_CHARS),
        payload=f.text(d, "payload", what, limit=f.MAX_PAYLOAD_CHARS),
        cipher_type=_cipher_type(d, what),
        timestamp=f.parse_time(d.get("timestamp")),
    )


def parse_group_items(data: object) -> list[GroupItem]:
    """``GET /api/group-items/{channelId}``; unreadable elements are skipped."""
    d = f.obj(data, "group history")
    items: list[GroupItem] = []
    for entry in f.array(d.get("items"), "group history"):
        try:
            items.append(parse_group_item(entry))
        except ProtocolError:
            continue
    return items


def parse_pending_page(data: object) -> PendingPage:
    """A socket ``pendingMessagesResponse`` or the HTTP pending v2 answer."""
    what = "pending message page"
    d = f.obj(data, what)
    raw = d.get("items")
    if raw is None:
        raw = d.get("messages")
    entries = f.array(raw, what)
    items: list[IncomingItem] = []
    for entry in entries:
        try:
            items.append(parse_incoming_item(entry, pending=True))
        except ProtocolError:
            continue
    return PendingPage(
        items=tuple(items),
        has_more=f.opt_boolean(d, "hasMore", what),
        offset=f.opt_integer(d, "offset", what, minimum=0) or 0,
        skipped=len(entries) - len(items),
    )


def parse_pending_available(data: object) -> PendingAvailable:
    what = "pending notice"
    d = f.obj(data, what)
    return PendingAvailable(
        count=f.opt_integer(d, "count", what, minimum=0) or 0,
        timestamp=f.parse_time(d.get("timestamp")),
    )


def parse_delivery_receipt(data: object) -> DeliveryReceipt:
    what = "delivery receipt"
    d = f.obj(data, what)
    return DeliveryReceipt(
        item_id=f.string(d, "itemId", what),
        recipient_user_id=f.string(d, "recipientUserId", what),
        recipient_device_id=f.integer(d, "recipientDeviceId", what, minimum=0),
        delivered_at=f.parse_time(d.get("deliveredAt")),
    )


def parse_delete_ack(data: object) -> DeleteAck:
    what = "delete acknowledgement"
    d = f.obj(data, what)
    return DeleteAck(
        success=f.boolean(d, "success", what),
        deleted_count=f.opt_integer(d, "deletedCount", what, minimum=0) or 0,
    )


def _skd_from(d: Mapping[str, Any], what: str) -> SenderKeyDistribution:
    message = f.string(d, "distributionMessage", what, limit=f.MAX_PAYLOAD_CHARS)
    f.decode_b64(message, what)  # validated now, decoded by whoever uses it
    return SenderKeyDistribution(
        group_id=f.string(d, "groupId", what),
        sender_id=f.string(d, "senderId", what),
        sender_device_id=f.integer(d, "senderDeviceId", what, minimum=0),
        distribution_message=message,
        message_type=f.integer(d, "messageType", what, minimum=0),
    )


def parse_sender_key_distribution(data: object) -> SenderKeyDistribution:
    """The ``receiveSenderKeyDistribution`` event."""
    what = "sender key distribution"
    return _skd_from(f.obj(data, what), what)


def parse_sender_key_item_payload(payload: str) -> SenderKeyDistribution:
    """The JSON string inside a stored ``signal:senderKeyDistribution`` item."""
    what = "sender key item"
    if len(payload) > f.MAX_PAYLOAD_CHARS:
        raise ProtocolError(f"The server sent a malformed {what} (too large).")
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        raise ProtocolError(f"The server sent a malformed {what} (not JSON).") from None
    return _skd_from(f.obj(data, what), what)


def parse_group_item_delivered(data: object) -> GroupItemDelivered:
    what = "group delivery notice"
    d = f.obj(data, what)
    return GroupItemDelivered(
        item_id=f.string(d, "itemId", what),
        delivered_count=f.opt_integer(d, "deliveredCount", what, minimum=0),
        total_devices=f.opt_integer(d, "totalDevices", what, minimum=0),
        existing=f.opt_boolean(d, "existing", what),
    )


def parse_group_item_error(data: object) -> GroupItemError:
    what = "group error"
    d = f.obj(data, what)
    error = f.opt_string(d, "error", what, limit=f.MAX_TEXT_CHARS) or "unknown error"
    return GroupItemError(error=error, item_id=f.opt_string(d, "itemId", what))


def parse_group_item_read_update(data: object) -> GroupItemReadUpdate:
    what = "group read update"
    d = f.obj(data, what)
    # readByDevice is informational; Flutter peers may send something odd there.
    device = f.to_int(d.get("readByDevice"))
    return GroupItemReadUpdate(
        item_id=f.string(d, "itemId", what),
        read_by=f.string(d, "readBy", what),
        read_by_device=device if device is not None and device >= 0 else None,
        read_count=f.integer(d, "readCount", what, minimum=0),
        total_members=f.integer(d, "totalMembers", what, minimum=0),
        all_read=f.opt_boolean(d, "allRead", what),
    )


def parse_presence_update(data: object) -> PresenceUpdate:
    what = "presence update"
    d = f.obj(data, what)
    return PresenceUpdate(
        user_id=f.string(d, "user_id", what),
        online=d.get("status") == "online",
        last_seen=f.parse_time(d.get("last_seen")),
    )


def parse_user_disconnected(data: object) -> PresenceUpdate:
    what = "presence update"
    d = f.obj(data, what)
    return PresenceUpdate(
        user_id=f.string(d, "user_id", what),
        online=False,
        last_seen=f.parse_time(d.get("last_seen")),
    )


def parse_authenticated(data: object) -> AuthSuccess | AuthFailure:
    what = "authentication answer"
    d = f.obj(data, what)
    if d.get("authenticated") is True:
        return AuthSuccess(
            user_id=f.string(d, "uuid", what),
            device_id=f.integer(d, "deviceId", what, minimum=0),
            client_id=f.opt_string(d, "clientId", what),
        )
    error = d.get("error")
    if isinstance(error, str) and error.isprintable() and 0 < len(error) <= 64:
        return AuthFailure(error)
    return AuthFailure("unknown")

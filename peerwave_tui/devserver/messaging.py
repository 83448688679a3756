"""What happens to messages: 1:1 items, sender-key distribution, group items, reads.

Shared by the socket events and their HTTP alternatives (protocol.md sections 5, 6).
"""

from __future__ import annotations

import json
from typing import Any

from peerwave_tui.devserver.auth import Caller
from peerwave_tui.devserver.context import ServerContext
from peerwave_tui.devserver.hub import SocketState
from peerwave_tui.devserver.util import (
    ApiError,
    InvalidInput,
    error,
    get_uuid,
    iso,
    need_b64,
    need_int,
    need_str,
    need_uuid,
    parse_iso,
    require_dict,
    to_int,
)

DEFAULT_PAGE = 20
MAX_PAGE = 100
MAX_ITEM_ID = 200
MAX_TYPE = 100
GROUP_CIPHER_TYPE = 4
SENDER_KEY_TYPE = "signal:senderKeyDistribution"


def page_bounds(limit: Any, offset: Any) -> tuple[int, int]:
    """Default limit 20, at most 100; offset from 0 (numbers or decimal strings)."""
    size = DEFAULT_PAGE if limit is None else to_int(limit, "limit", allow_str=True)
    start = 0 if offset is None else to_int(offset, "offset", allow_str=True)
    return max(1, min(MAX_PAGE, size)), start


class Messaging:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------ 1:1

    async def send_item(self, caller: Caller, data: Any) -> None:
        """Store, receipt to the sender ("stored"), then ``receiveItem`` if online."""
        data = require_dict(data, "sendItem")
        item_id = need_str(data, "itemId", max_len=MAX_ITEM_ID)
        recipient = need_uuid(data, "recipient")
        device_id = need_int(data, "recipientDeviceId")
        item_type = need_str(data, "type", max_len=MAX_TYPE)
        payload = need_b64(data, "payload")
        cipher_type = to_int(data.get("cipherType"), "cipherType", maximum=99, allow_str=True)
        original = get_uuid(data, "originalRecipient", required=False)
        messages, hub = self.ctx.messages, self.ctx.hub
        seq = messages.add_item(
            item_id=item_id,
            sender=caller.user_id,
            sender_device=caller.device_id,
            recipient=recipient,
            recipient_device=device_id,
            item_type=item_type,
            payload=payload,
            cipher_type=cipher_type,
            original_recipient=original,
        )
        await hub.send_to_device(
            caller.user_id,
            caller.device_id,
            "deliveryReceipt",
            {
                "itemId": item_id,
                "recipientUserId": recipient,
                "recipientDeviceId": device_id,
                "deliveredAt": iso(self.ctx.now_ms()),
            },
        )
        delivered = await hub.send_to_device(
            recipient,
            device_id,
            "receiveItem",
            {
                "sender": caller.user_id,
                "senderDeviceId": caller.device_id,
                "recipient": recipient,
                "type": item_type,
                "payload": payload,
                "cipherType": cipher_type,
                "itemId": item_id,
                "originalRecipient": original,
            },
        )
        if delivered:
            messages.mark_delivered(seq)

    def delete_item(self, caller: Caller, item_id: str) -> int:
        return self.ctx.messages.delete_items(caller.user_id, caller.device_id, item_id)

    def pending(self, caller: Caller, limit: int, offset: int) -> tuple[list[dict[str, Any]], bool]:
        return self.ctx.messages.pending(caller.user_id, caller.device_id, limit, offset)

    # ----------------------------------------------------- sender-key distribution

    async def distribute_sender_key(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        group_id = need_uuid(body, "groupId")
        recipient = need_uuid(body, "recipientId")
        device_id = need_int(body, "recipientDeviceId")
        distribution = need_b64(body, "encryptedDistribution")
        message_type = need_int(body, "messageType", maximum=99)
        payload = {
            "groupId": group_id,
            "senderId": caller.user_id,
            "senderDeviceId": caller.device_id,
            "distributionMessage": distribution,
            "messageType": message_type,
        }
        hub = self.ctx.hub
        if await hub.send_now_to_device(
            recipient, device_id, "receiveSenderKeyDistribution", payload
        ):
            return {"success": True, "delivered": True}
        if self.ctx.config.quirk_offline_skdm_500:
            raise ApiError(500, {"error": "Failed to distribute sender key"})
        self.ctx.messages.add_item(
            item_id=f"senderkey-{group_id}-{self.ctx.now_ms()}",
            sender=caller.user_id,
            sender_device=caller.device_id,
            recipient=recipient,
            recipient_device=device_id,
            item_type=SENDER_KEY_TYPE,
            payload=json.dumps(payload, separators=(",", ":")),
            cipher_type=message_type,
            original_recipient=None,
        )
        return {"success": True, "delivered": False, "queued": True}

    # --------------------------------------------------------------- groups

    async def send_group_item(self, state: SocketState, caller: Caller, data: Any) -> None:
        """One stored item; ``groupItem`` to every other device of every member."""
        hub = self.ctx.hub
        try:
            data = require_dict(data, "sendGroupItem")
            channel_id = need_uuid(data, "channelId")
            item_id = need_str(data, "itemId", max_len=MAX_ITEM_ID)
            item_type = need_str(data, "type", max_len=MAX_TYPE)
            payload = need_b64(data, "payload")
            cipher = to_int(data.get("cipherType"), "cipherType", maximum=99, allow_str=True)
            if cipher != GROUP_CIPHER_TYPE:
                raise InvalidInput("cipherType must be 4 for group items")
        except InvalidInput as exc:
            await hub.send(state, "groupItemError", {"error": str(exc)})
            return
        channels = self.ctx.channels
        if channels.get(channel_id) is None:
            await hub.send(state, "groupItemError", {"error": "Channel not found"})
            return
        if not channels.is_member(channel_id, caller.user_id):
            await hub.send(state, "groupItemError", {"error": "Not a member of this channel"})
            return
        timestamp = data.get("timestamp")
        item = self.ctx.messages.add_group_item(
            item_id=item_id,
            channel_id=channel_id,
            sender=caller.user_id,
            sender_device=caller.device_id,
            item_type=item_type,
            payload=payload,
            cipher_type=cipher,
            timestamp=timestamp if parse_iso(timestamp) is not None else iso(self.ctx.now_ms()),
        )
        if item is None:
            await hub.send(state, "groupItemDelivered", {"itemId": item_id, "existing": True})
            return
        targets = [
            d
            for member in channels.members(channel_id)
            for d in self.ctx.accounts.devices_of(member)
            if (d.owner, d.device_id) != (caller.user_id, caller.device_id)
        ]
        event = item.to_event()
        delivered = 0
        for device in targets:
            if await hub.send_to_device(device.owner, device.device_id, "groupItem", event):
                delivered += 1
        await hub.send(
            state,
            "groupItemDelivered",
            {"itemId": item_id, "deliveredCount": delivered, "totalDevices": len(targets)},
        )

    async def mark_group_read(self, caller: Caller, item_id: str) -> None:
        """Record the read, tell the sending device, delete once every member read it."""
        item = self.ctx.messages.group_item(item_id)
        if item is None:
            raise error(404, "Group item not found")
        channels = self.ctx.channels
        if not channels.is_member(item.channel_id, caller.user_id):
            raise error(403, "Not a member of this channel")
        read_count = self.ctx.messages.mark_group_read(item, caller.user_id, caller.device_id)
        members = channels.members(item.channel_id)
        await self.ctx.hub.send_to_device(
            item.sender,
            item.sender_device,
            "groupItemReadUpdate",
            {
                "itemId": item.item_id,
                "readBy": caller.user_id,
                "readByDevice": caller.device_id,
                "readCount": read_count,
                "totalMembers": len(members),
                "allRead": read_count >= len(members),
            },
        )
        if set(members) <= self.ctx.messages.readers(item):
            self.ctx.messages.delete_group_item(item)

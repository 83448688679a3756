"""Channels, sender-key distribution, group items and reads, people
(protocol.md sections 6, 7 and 10.4)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.devserver.conftest import ciphertext
from tests.devserver_fixtures import (
    ReadyAccount,
    RunningDevServer,
    SignedHttp,
    SocketProbe,
    add_device,
    create_account,
    running_devserver,
)

HttpFactory = Callable[[ReadyAccount], SignedHttp]
ProbeFactory = Callable[[ReadyAccount | None], SocketProbe]
CHANNEL_KEYS = {
    "uuid",
    "name",
    "description",
    "owner",
    "private",
    "type",
    "defaultRoleId",
    "createdAt",
    "updatedAt",
}


async def create_channel(
    http: SignedHttp, name: str = "general", private: bool = False
) -> dict[str, Any]:
    status, channel = await http.post(
        "/client/channels",
        {"name": name, "description": "talk", "private": private, "type": "signal"},
    )
    assert status == 201, channel
    return channel


def group_item(channel_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "channelId": channel_id,
        "itemId": str(uuid.uuid4()),
        "type": "message",
        "payload": ciphertext(),
        "cipherType": 4,
        "timestamp": "2026-03-04T05:06:07.089Z",
    }
    body.update(extra)
    return body


# -------------------------------------------------------------------------- channels


async def test_channel_lifecycle(
    alice: ReadyAccount,
    bob: ReadyAccount,
    make_account: Callable[..., Any],
    http_factory: HttpFactory,
) -> None:
    carol = await make_account(display_name="Carol")
    a, b, c = http_factory(alice), http_factory(bob), http_factory(carol)
    channel = await create_channel(a)
    assert set(channel) == CHANNEL_KEYS
    assert (channel["owner"], channel["private"], channel["type"]) == (
        alice.user_id,
        False,
        "signal",
    )
    assert channel["defaultRoleId"] is None and channel["createdAt"].endswith("Z")
    channel_id = channel["uuid"]
    private = await create_channel(a, "secret", private=True)

    assert await a.get("/client/channels", {"type": "signal", "limit": "100"}) == (
        200, {"status": "success", "channels": [channel, private]},
    )  # fmt: skip
    status, found = await b.get("/client/channels/discover", {"limit": "10", "offset": "0"})
    assert status == 200 and found == {
        "status": "success",
        "channels": [channel],
        "total": 1,
        "hasMore": False,
    }
    status, found = await b.get("/client/channels/discover", {"limit": "0"})
    assert status == 200 and found["hasMore"] is False

    assert (await b.get(f"/api/channels/{channel_id}/members"))[0] == 403
    assert (await b.get(f"/channels/{channel_id}/member-devices"))[0] == 403
    status, joined = await b.post(f"/client/channels/{channel_id}/join")
    assert status == 200 and joined == {
        "status": "success",
        "message": joined["message"],
        "channel": channel,
    }
    status, again = await b.post(f"/client/channels/{channel_id}/join")
    assert status == 400 and again["status"] == "error"
    status, refused = await b.post(f"/client/channels/{private['uuid']}/join")
    assert status == 403
    assert (await b.post(f"/client/channels/{uuid.uuid4()}/join"))[0] == 404

    status, members = await b.get(f"/api/channels/{channel_id}/members")
    assert status == 200
    assert members == {
        "members": [
            {
                "userId": alice.user_id,
                "displayName": "Alice",
                "email": alice.email,
                "isOwner": True,
                "roles": [],
            },
            {
                "userId": bob.user_id,
                "displayName": "Bob",
                "email": bob.email,
                "isOwner": False,
                "roles": [],
            },
        ]
    }
    # Adding members needs the permission (the owner has it).
    assert (await b.post(f"/api/channels/{private['uuid']}/members", {"userId": carol.user_id}))[
        0
    ] == 403
    assert (await b.post(f"/api/channels/{channel_id}/members", {"userId": carol.user_id}))[
        0
    ] == 403
    status, _ = await a.post(f"/api/channels/{private['uuid']}/members", {"userId": carol.user_id})
    assert 200 <= status < 300
    assert [ch["uuid"] for ch in (await c.get("/client/channels"))[1]["channels"]] == [
        private["uuid"]
    ]

    status, devices = await a.get(f"/channels/{channel_id}/member-devices")
    assert status == 200 and devices == [
        {"userId": alice.user_id, "deviceId": 1}, {"userId": bob.user_id, "deviceId": 1},
    ]  # fmt: skip
    assert 200 <= (await b.post(f"/api/channels/{channel_id}/leave"))[0] < 300
    assert (await b.get(f"/api/channels/{channel_id}/members"))[0] == 403
    assert (await b.post(f"/api/channels/{channel_id}/leave"))[0] == 403


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "description": "", "private": "no", "type": "signal"},
        {"name": "x", "description": "", "private": False, "type": "voice"},
        {"name": "", "description": "", "private": False, "type": "signal"},
        {"description": "", "private": False, "type": "signal"},
    ],
)
async def test_bad_channel_bodies(
    alice: ReadyAccount, http_factory: HttpFactory, body: dict[str, Any]
) -> None:
    status, result = await http_factory(alice).post("/client/channels", body)
    assert status == 400 and isinstance(result["error"], str)


async def test_discover_pagination(
    alice: ReadyAccount, bob: ReadyAccount, http_factory: HttpFactory
) -> None:
    a = http_factory(alice)
    made = [(await create_channel(a, f"c{n}"))["uuid"] for n in range(5)]
    _, page = await http_factory(bob).get(
        "/client/channels/discover", {"limit": "2", "offset": "2"}
    )
    assert [c["uuid"] for c in page["channels"]] == made[2:4]
    assert (page["total"], page["hasMore"]) == (5, True)


# ------------------------------------------------------------- sender-key distribution


def distribution(group_id: str, target: ReadyAccount, message_type: int = 3) -> dict[str, Any]:
    return {
        "groupId": group_id,
        "recipientId": target.user_id,
        "recipientDeviceId": target.device_id,
        "encryptedDistribution": ciphertext(),
        "messageType": message_type,
    }


async def test_distribution_online_and_offline(
    alice: ReadyAccount,
    bob: ReadyAccount,
    http_factory: HttpFactory,
    probe_factory: ProbeFactory,
    clock: Any,
) -> None:
    a = http_factory(alice)
    group_id = (await create_channel(a))["uuid"]
    body = distribution(group_id, bob, 2)
    status, result = await a.post("/api/signal/distribute-sender-key", body)
    assert (status, result) == (200, {"success": True, "delivered": False, "queued": True})

    b = probe_factory(bob)
    await b.start()
    assert (await b.wait_for("pendingMessagesAvailable"))["count"] == 1
    await b.emit("fetchPendingMessagesV2", {"limit": 10, "offset": 0})
    stored = (await b.wait_for("pendingMessagesResponse"))["items"][0]
    assert re.fullmatch(rf"senderkey-{group_id}-\d+", stored["itemId"])
    assert (stored["type"], stored["cipherType"], stored["sender"]) == (
        "signal:senderKeyDistribution",
        2,
        alice.user_id,
    )
    assert json.loads(stored["payload"]) == {
        "groupId": group_id,
        "senderId": alice.user_id,
        "senderDeviceId": alice.device_id,
        "distributionMessage": body["encryptedDistribution"],
        "messageType": 2,
    }

    body = distribution(group_id, bob)
    assert await a.post("/api/signal/distribute-sender-key", body) == (
        200,
        {"success": True, "delivered": True},
    )
    live = await b.wait_for("receiveSenderKeyDistribution")
    assert live == {
        "groupId": group_id,
        "senderId": alice.user_id,
        "senderDeviceId": alice.device_id,
        "distributionMessage": body["encryptedDistribution"],
        "messageType": 3,
    }


@pytest.mark.parametrize(
    "spoil",
    [
        {"groupId": "nope"},
        {"recipientDeviceId": "1"},
        {"encryptedDistribution": "%%%"},
        {"messageType": None},
    ],
)
async def test_bad_distribution_is_400(
    alice: ReadyAccount, bob: ReadyAccount, http_factory: HttpFactory, spoil: dict[str, Any]
) -> None:
    body = {**distribution(str(uuid.uuid4()), bob), **spoil}
    status, result = await http_factory(alice).post("/api/signal/distribute-sender-key", body)
    assert status == 400 and "error" in result


async def test_quirk_offline_distribution_500(tmp_path: Path) -> None:
    async with running_devserver(tmp_path, quirk_offline_skdm_500=True) as server:
        alice = await create_account(server.url, server)
        bob = await create_account(server.url, server)
        async with SignedHttp(server.url, alice) as http:
            status, body = await http.post(
                "/api/signal/distribute-sender-key", distribution(str(uuid.uuid4()), bob)
            )
        assert (status, body) == (500, {"error": "Failed to distribute sender key"})
        assert server.server.context.messages.count_items(bob.user_id, bob.device_id) == 0


# --------------------------------------------------------------------- group items


async def test_group_items_and_reads(
    server: RunningDevServer,
    alice: ReadyAccount,
    bob: ReadyAccount,
    http_factory: HttpFactory,
    probe_factory: ProbeFactory,
) -> None:
    alice2 = await add_device(server.url, alice, server.server.config.clock)
    a, b = http_factory(alice), http_factory(bob)
    channel_id = (await create_channel(a))["uuid"]
    await b.post(f"/client/channels/{channel_id}/join")
    pa, pa2, pb = probe_factory(alice), probe_factory(alice2), probe_factory(bob)
    for probe in (pa, pa2, pb):
        await probe.start()

    item = group_item(channel_id)
    await pa.emit("sendGroupItem", item)
    delivered = await pa.wait_for("groupItemDelivered")
    assert delivered == {"itemId": item["itemId"], "deliveredCount": 2, "totalDevices": 2}
    expected = {
        "itemId": item["itemId"], "channel": channel_id, "sender": alice.user_id, "senderDevice": 1,
        "type": "message", "payload": item["payload"], "cipherType": 4, "timestamp": item["timestamp"],
    }  # fmt: skip
    assert await pb.wait_for("groupItem") == expected
    assert await pa2.wait_for("groupItem") == expected  # the sender's other device too
    assert pa.events("groupItem") == []  # never the sending device

    mark = pa.mark()
    await pa.emit("sendGroupItem", item)  # a repeated itemId
    assert await pa.wait_for("groupItemDelivered", after=mark) == {
        "itemId": item["itemId"],
        "existing": True,
    }

    # The sender's own item is in its pending list until it marks it read.
    mark = pa.mark()
    await pa.emit("fetchPendingMessagesV2", {"limit": 10, "offset": 0})
    pending = (await pa.wait_for("pendingMessagesResponse", after=mark))["items"]
    assert [
        (p["itemId"], p["channel"], p["channelId"], p["cipherType"], p["senderDeviceId"])
        for p in pending
    ] == [(item["itemId"], channel_id, channel_id, 4, 1)]

    await pb.emit("markGroupItemRead", {"itemId": item["itemId"]})
    update = await pa.wait_for("groupItemReadUpdate")
    assert update == {
        "itemId": item["itemId"], "readBy": bob.user_id, "readByDevice": 1,
        "readCount": 1, "totalMembers": 2, "allRead": False,
    }  # fmt: skip
    assert pa2.events("groupItemReadUpdate") == [] and pb.events("groupItemReadUpdate") == []
    mark = pb.mark()
    await pb.emit("fetchPendingMessagesV2", {"limit": 10, "offset": 0})
    assert (await pb.wait_for("pendingMessagesResponse", after=mark))["items"] == []

    _, history = await b.get(f"/api/group-items/{channel_id}")
    assert history == {"success": True, "items": [expected], "count": 1}
    # Once every member has read it, the server deletes it.
    mark = pa.mark()
    assert await a.post(f"/api/group-items/{item['itemId']}/read") == (200, {"success": True})
    final = await pa.wait_for("groupItemReadUpdate", after=mark)
    assert (final["readCount"], final["allRead"]) == (2, True)
    _, history = await b.get(f"/api/group-items/{channel_id}")
    assert history == {"success": True, "items": [], "count": 0}


async def test_group_send_errors(
    alice: ReadyAccount, bob: ReadyAccount, http_factory: HttpFactory, probe_factory: ProbeFactory
) -> None:
    channel_id = (await create_channel(http_factory(alice)))["uuid"]
    pb = probe_factory(bob)
    await pb.start()
    bad_payloads = [
        group_item(channel_id),  # bob is not a member
        group_item(str(uuid.uuid4())),  # no such channel
        group_item(channel_id, cipherType=3),
        group_item(channel_id, payload="not base64"),
        {"channelId": channel_id},
        "garbage",
    ]
    for payload in bad_payloads:
        await pb.emit("sendGroupItem", payload)
    errors = await pb.wait_count("groupItemError", len(bad_payloads))
    assert all(set(e) == {"error"} and isinstance(e["error"], str) for e in errors)
    assert pb.events("groupItemDelivered") == []


async def test_group_timestamp_falls_back_to_server_time(
    alice: ReadyAccount, http_factory: HttpFactory, probe_factory: ProbeFactory, clock: Any
) -> None:
    channel_id = (await create_channel(http_factory(alice)))["uuid"]
    pa = probe_factory(alice)
    await pa.start()
    await pa.emit("sendGroupItem", group_item(channel_id, timestamp="yesterday"))
    await pa.wait_for("groupItemDelivered")
    _, history = await http_factory(alice).get(f"/api/group-items/{channel_id}")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", history["items"][0]["timestamp"])


async def test_pending_merges_direct_and_group_items(
    server: RunningDevServer,
    alice: ReadyAccount,
    bob: ReadyAccount,
    http_factory: HttpFactory,
    clock: Any,
) -> None:
    a = http_factory(alice)
    channel_id = (await create_channel(a))["uuid"]
    await http_factory(bob).post(f"/client/channels/{channel_id}/join")
    messages = server.server.context.messages
    order = []
    for n in range(4):
        if n % 2:
            messages.add_group_item(
                item_id=f"g{n}", channel_id=channel_id, sender=alice.user_id, sender_device=1,
                item_type="message", payload="AAAA", cipher_type=4, timestamp="2026-01-01T00:00:00.000Z",
            )  # fmt: skip
        else:
            messages.add_item(
                item_id=f"d{n}", sender=alice.user_id, sender_device=1, recipient=bob.user_id,
                recipient_device=1, item_type="message", payload="AAAA", cipher_type=2,
                original_recipient=bob.user_id,
            )  # fmt: skip
        order.append(f"g{n}" if n % 2 else f"d{n}")
        clock.advance(0.002)
    _, page = await http_factory(bob).get("/api/signal/pending-messages/v2", {"limit": "3"})
    assert [i["itemId"] for i in page["items"]] == order[:3] and page["hasMore"] is True
    group = page["items"][1]
    assert (
        group["channel"] == group["channelId"] == channel_id and group["recipient"] == bob.user_id
    )
    _, page = await http_factory(bob).get(
        "/api/signal/pending-messages/v2", {"limit": "3", "offset": "3"}
    )
    assert [i["itemId"] for i in page["items"]] == order[3:] and page["hasMore"] is False


async def test_group_history_http(
    alice: ReadyAccount,
    bob: ReadyAccount,
    http_factory: HttpFactory,
    probe_factory: ProbeFactory,
    clock: Any,
) -> None:
    a = http_factory(alice)
    channel_id = (await create_channel(a))["uuid"]
    pa = probe_factory(alice)
    await pa.start()
    first = group_item(channel_id)
    await pa.emit("sendGroupItem", first)
    await pa.wait_for("groupItemDelivered")
    since = datetime.fromtimestamp(clock.now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    clock.advance(5)
    second = group_item(channel_id)
    await pa.emit("sendGroupItem", second)
    await pa.wait_count("groupItemDelivered", 2)
    # `since` is an ISO timestamp compared with the server's storage time.
    _, later = await a.get(f"/api/group-items/{channel_id}", {"since": since})
    assert [i["itemId"] for i in later["items"]] == [second["itemId"]] and later["count"] == 1
    _, limited = await a.get(f"/api/group-items/{channel_id}", {"limit": "1"})
    assert [i["itemId"] for i in limited["items"]] == [first["itemId"]] and limited["count"] == 1
    assert (await a.get(f"/api/group-items/{channel_id}", {"since": "last tuesday"}))[0] == 400
    status, body = await http_factory(bob).get(f"/api/group-items/{channel_id}")
    assert status == 403 and "error" in body
    assert (await http_factory(bob).post(f"/api/group-items/{first['itemId']}/read"))[0] == 403
    assert (await a.post("/api/group-items/no-such-item/read"))[0] == 404


# --------------------------------------------------------------------------- people


async def test_people_and_profiles(
    alice: ReadyAccount, bob: ReadyAccount, http_factory: HttpFactory
) -> None:
    http = http_factory(alice)
    status, people = await http.get("/people/list")
    assert status == 200
    assert people == [
        {
            "uuid": bob.user_id,
            "displayName": "Bob",
            "email": bob.email,
            "picture": None,
            "atName": None,
            "isOnline": False,
        }
    ]
    status, body = await http.get(
        "/people/profiles", {"uuids": f"{alice.user_id},{bob.user_id},{uuid.uuid4()},junk"}
    )
    assert status == 200
    assert [p["uuid"] for p in body["profiles"]] == [alice.user_id, bob.user_id]  # own included
    assert set(body["profiles"][0]) == {"uuid", "displayName", "picture", "atName", "presence"}
    assert body["profiles"][1]["presence"] == {"status": "offline", "last_seen": None}
    assert (await http.get("/people/profiles"))[0] == 400

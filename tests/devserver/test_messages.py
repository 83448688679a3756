"""The socket handshake, 1:1 items, held events, pending pagination and presence
(protocol.md sections 3.4, 5 and 10.2)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import socketio

from tests.devserver.conftest import ciphertext
from tests.devserver_fixtures import (
    ReadyAccount,
    RunningDevServer,
    SignedHttp,
    SocketProbe,
    add_device,
)

HttpFactory = Callable[[ReadyAccount], SignedHttp]
ProbeFactory = Callable[[ReadyAccount | None], SocketProbe]
ISO_LEN = len("2026-01-01T12:00:00.000Z")


def item_for(
    target: ReadyAccount, *, partner: ReadyAccount | None = None, **extra: Any
) -> dict[str, Any]:
    body = {
        "itemId": str(uuid.uuid4()),
        "recipient": target.user_id,
        "recipientDeviceId": target.device_id,
        "type": "message",
        "payload": ciphertext(),
        "cipherType": 3,
        "originalRecipient": (partner or target).user_id,
        "timestamp": "2026-01-01T00:00:00.000Z",
    }
    body.update(extra)
    return body


async def test_handshake(alice: ReadyAccount, probe_factory: ProbeFactory) -> None:
    probe = probe_factory(alice)
    await probe.connect()
    assert await probe.authenticate() == {
        "authenticated": True,
        "uuid": alice.user_id,
        "deviceId": alice.device_id,
        "clientId": alice.client_id,
    }


async def test_send_item_receipt_and_live_delivery(
    alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    a, b = probe_factory(alice), probe_factory(bob)
    await a.start()
    await b.start()
    await b.wait_for("presence:update", lambda d: d["user_id"] == bob.user_id)
    item = item_for(bob, cipherType="3")
    await a.emit("sendItem", item)
    receipt = await a.wait_for("deliveryReceipt")
    assert set(receipt) == {"itemId", "recipientUserId", "recipientDeviceId", "deliveredAt"}
    assert (receipt["itemId"], receipt["recipientUserId"], receipt["recipientDeviceId"]) == (
        item["itemId"], bob.user_id, bob.device_id,
    )  # fmt: skip
    assert len(receipt["deliveredAt"]) == ISO_LEN and receipt["deliveredAt"].endswith("Z")
    received = await b.wait_for("receiveItem")
    assert received == {
        "sender": alice.user_id,
        "senderDeviceId": alice.device_id,
        "recipient": bob.user_id,
        "type": "message",
        "payload": item["payload"],
        "cipherType": 3,  # "3" arrives as the int 3; no timestamp
        "itemId": item["itemId"],
        "originalRecipient": bob.user_id,
    }
    # Still stored after live delivery, until the receiving device deletes it.
    mark = b.mark()
    await b.emit("fetchPendingMessagesV2", {"limit": 10, "offset": 0})
    page = await b.wait_for("pendingMessagesResponse", after=mark)
    assert [i["itemId"] for i in page["items"]] == [item["itemId"]]
    assert await a.call("deleteItem", {"itemId": item["itemId"]}) == {
        "success": True,
        "deletedCount": 0,
    }
    assert await b.call("deleteItem", {"itemId": item["itemId"]}) == {
        "success": True,
        "deletedCount": 1,
    }
    assert await b.call("deleteItem", {"itemId": item["itemId"]}) == {
        "success": True,
        "deletedCount": 0,
    }
    assert a.events("receiveItem") == []


async def test_receipt_means_stored_for_unknown_devices(
    alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory, server: RunningDevServer
) -> None:
    """No check that the device exists: stored, receipt sent, nothing else."""
    a = probe_factory(alice)
    await a.start()
    item = item_for(bob, recipientDeviceId=9)
    await a.emit("sendItem", item)
    assert (await a.wait_for("deliveryReceipt"))["recipientDeviceId"] == 9
    assert server.server.context.messages.count_items(bob.user_id, 9) == 1


async def test_events_are_held_until_client_ready(
    alice: ReadyAccount,
    bob: ReadyAccount,
    probe_factory: ProbeFactory,
    http_factory: HttpFactory,
) -> None:
    """An authenticated socket is online, but receives nothing before clientReady, except
    receiveSenderKeyDistribution; then the held events come in order, then the count."""
    a, b = probe_factory(alice), probe_factory(bob)
    await a.start()
    await b.connect()
    await b.authenticate()
    first, second = item_for(bob), item_for(bob)
    await a.emit("sendItem", first)
    await a.emit("sendItem", second)
    await a.wait_for("deliveryReceipt", lambda d: d["itemId"] == second["itemId"])
    status, body = await http_factory(alice).post(
        "/api/signal/distribute-sender-key",
        {
            "groupId": str(uuid.uuid4()),
            "recipientId": bob.user_id,
            "recipientDeviceId": bob.device_id,
            "encryptedDistribution": ciphertext(),
            "messageType": 3,
        },
    )
    assert (status, body) == (200, {"success": True, "delivered": True})
    await b.wait_for("receiveSenderKeyDistribution")
    assert [e for e, _ in b.received] == ["authenticated", "receiveSenderKeyDistribution"]
    assert a.events("presence:update")[-1]["user_id"] == alice.user_id  # bob not announced yet

    await b.ready()
    await b.wait_for("pendingMessagesAvailable")
    names = [e for e, _ in b.received]
    assert names == [
        "authenticated", "receiveSenderKeyDistribution", "presence:update",
        "receiveItem", "receiveItem", "pendingMessagesAvailable",
    ]  # fmt: skip
    assert [d["itemId"] for d in b.events("receiveItem")] == [first["itemId"], second["itemId"]]
    available = b.events("pendingMessagesAvailable")[0]
    assert set(available) == {"count", "timestamp"} and available["count"] == 2
    presence = await a.wait_for("presence:update", lambda d: d["user_id"] == bob.user_id)
    assert presence["status"] == "online" and len(presence["last_seen"]) == ISO_LEN


async def test_disconnect_before_ready_drops_the_queue_not_the_items(
    alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    a, b = probe_factory(alice), probe_factory(bob)
    await a.start()
    await b.connect()
    await b.authenticate()
    item = item_for(bob)
    await a.emit("sendItem", item)
    await a.wait_for("deliveryReceipt")
    await b.close()
    again = probe_factory(bob)
    await again.start()
    assert (await again.wait_for("pendingMessagesAvailable"))["count"] == 1
    assert again.events("receiveItem") == []


async def test_offline_recipient_gets_pending_notice(
    alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    a = probe_factory(alice)
    await a.start()
    for _ in range(3):
        await a.emit("sendItem", item_for(bob))
    await a.wait_count("deliveryReceipt", 3)
    b = probe_factory(bob)
    await b.start()
    assert (await b.wait_for("pendingMessagesAvailable"))["count"] == 3
    # No notice when nothing is stored.
    c = probe_factory(alice)
    await c.start()
    await c.emit("fetchPendingMessagesV2", {"limit": 5, "offset": 0})
    await c.wait_for("pendingMessagesResponse")
    assert c.events("pendingMessagesAvailable") == []


async def _store(
    server: RunningDevServer, sender: ReadyAccount, target: ReadyAccount, count: int
) -> list[str]:
    """Stored items, one ms apart so their order is unambiguous."""
    ids = []
    clock = server.server.config.clock
    for n in range(count):
        item_id = f"item-{n:03d}"
        server.server.context.messages.add_item(
            item_id=item_id, sender=sender.user_id, sender_device=sender.device_id,
            recipient=target.user_id, recipient_device=target.device_id, item_type="message",
            payload=ciphertext(8), cipher_type=2, original_recipient=target.user_id,
        )  # fmt: skip
        clock.advance(0.001)  # type: ignore[attr-defined]
        ids.append(item_id)
    return ids


async def _page(probe: SocketProbe, request: Any) -> dict[str, Any]:
    mark = probe.mark()
    await probe.emit("fetchPendingMessagesV2", request)
    result: dict[str, Any] = await probe.wait_for("pendingMessagesResponse", after=mark)
    return result


async def test_pending_pagination(
    server: RunningDevServer, alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    ids = await _store(server, alice, bob, 25)
    b = probe_factory(bob)
    await b.start()
    page = await _page(b, {"limit": 10, "offset": 0})
    assert set(page) == {"items", "messages", "hasMore", "offset", "total"}
    assert [i["itemId"] for i in page["items"]] == ids[:10]  # oldest first
    assert page["messages"] == page["items"]
    assert (page["hasMore"], page["offset"], page["total"]) == (True, 0, 10)
    pending = page["items"][0]
    assert set(pending) == {
        "sender", "senderDeviceId", "recipient", "type", "payload", "cipherType",
        "itemId", "originalRecipient", "timestamp",
    }  # fmt: skip
    assert (pending["sender"], pending["senderDeviceId"], pending["cipherType"]) == (
        alice.user_id,
        1,
        2,
    )
    assert len(pending["timestamp"]) == ISO_LEN

    page = await _page(b, {"limit": 10, "offset": 20})
    assert [i["itemId"] for i in page["items"]] == ids[20:]
    assert (page["hasMore"], page["offset"], page["total"]) == (False, 20, 5)
    assert len((await _page(b, {}))["items"]) == 20  # default limit
    assert len((await _page(b, {"limit": "3", "offset": "1"}))["items"]) == 3

    # The client algorithm of protocol.md 5.5: delete each page, then fetch at offset 0.
    seen: list[str] = []
    offset = 0
    while True:
        page = await _page(b, {"limit": 7, "offset": offset})
        acks = await asyncio.gather(
            *(b.call("deleteItem", {"itemId": i["itemId"]}) for i in page["items"])
        )
        assert all(ack == {"success": True, "deletedCount": 1} for ack in acks)
        seen += [i["itemId"] for i in page["items"]]
        if not page["hasMore"] or not page["items"]:
            break
    assert seen == ids


async def test_pending_limit_is_capped_at_100(
    server: RunningDevServer, alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    await _store(server, alice, bob, 105)
    b = probe_factory(bob)
    await b.start()
    page = await _page(b, {"limit": 500, "offset": 0})
    assert len(page["items"]) == 100 and page["hasMore"] is True


@pytest.mark.parametrize(
    "request_body", ["nope", [1, 2], {"limit": "ten"}, {"offset": -1}, {"limit": True}]
)
async def test_bad_pending_request_gets_error_event(
    bob: ReadyAccount, probe_factory: ProbeFactory, request_body: Any
) -> None:
    b = probe_factory(bob)
    await b.start()
    await b.emit("fetchPendingMessagesV2", request_body)
    error = await b.wait_for("fetchPendingMessagesError")
    assert set(error) == {"error"} and isinstance(error["error"], str)


async def test_http_pending_and_delete(
    server: RunningDevServer, alice: ReadyAccount, bob: ReadyAccount, http_factory: HttpFactory
) -> None:
    ids = await _store(server, alice, bob, 3)
    http = http_factory(bob)
    status, body = await http.get("/api/signal/pending-messages/v2", {"limit": "2", "offset": "0"})
    assert status == 200
    assert set(body) == {
        "success",
        "items",
        "messages",
        "hasMore",
        "offset",
        "total",
        "totalAvailable",
    }
    assert body["success"] is True and body["hasMore"] is True and body["total"] == 2
    assert [i["itemId"] for i in body["items"]] == ids[:2]
    assert isinstance(body["totalAvailable"], int) and body["totalAvailable"] >= 2

    params = {"receiverId": bob.user_id, "deviceId": str(bob.device_id)}
    status, _ = await http.delete(f"/items/{ids[0]}", params)
    assert status == 200
    status, _ = await http.delete(
        f"/items/{ids[1]}", {"receiverId": alice.user_id, "deviceId": "1"}
    )
    assert status == 403
    _, body = await http.get("/api/signal/pending-messages/v2")
    assert [i["itemId"] for i in body["items"]] == ids[1:]
    # The signed path is the path as sent, percent-encoding included.
    server.server.context.messages.add_item(
        item_id="odd id/1", sender=alice.user_id, sender_device=1, recipient=bob.user_id,
        recipient_device=bob.device_id, item_type="message", payload="AAAA", cipher_type=2,
        original_recipient=None,
    )  # fmt: skip
    assert await http.delete("/items/odd%20id%2F1", params) == (
        200,
        {"success": True, "deletedCount": 1},
    )


async def test_delete_touches_only_the_calling_device(
    server: RunningDevServer, alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    bob2 = await add_device(server.url, bob, server.server.config.clock)
    a = probe_factory(alice)
    await a.start()
    item_id = str(uuid.uuid4())
    await a.emit("sendItem", item_for(bob, itemId=item_id))
    await a.emit("sendItem", item_for(bob2, itemId=item_id, originalRecipient=bob.user_id))
    await a.wait_for("deliveryReceipt", lambda d: d["recipientDeviceId"] == bob2.device_id)
    b = probe_factory(bob)
    await b.start()
    assert await b.call("deleteItem", {"itemId": item_id}) == {"success": True, "deletedCount": 1}
    assert server.server.context.messages.count_items(bob.user_id, bob2.device_id) == 1


async def test_newer_socket_replaces_older(
    alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    old, new = probe_factory(bob), probe_factory(bob)
    await old.start()
    await new.start()
    await asyncio.wait_for(old.disconnected.wait(), 10)
    a = probe_factory(alice)
    await a.start()
    item = item_for(bob)
    await a.emit("sendItem", item)
    assert (await new.wait_for("receiveItem"))["itemId"] == item["itemId"]
    assert old.events("receiveItem") == []


async def test_presence(
    alice: ReadyAccount,
    bob: ReadyAccount,
    probe_factory: ProbeFactory,
    http_factory: HttpFactory,
    server: RunningDevServer,
) -> None:
    http = http_factory(alice)
    _, people = await http.get("/people/list")
    assert [p["isOnline"] for p in people if p["uuid"] == bob.user_id] == [False]
    a, b = probe_factory(alice), probe_factory(bob)
    await a.start()
    await b.start()
    online = await a.wait_for("presence:update", lambda d: d["user_id"] == bob.user_id)
    assert set(online) == {"user_id", "status", "last_seen"} and online["status"] == "online"
    _, people = await http.get("/people/list")
    assert [p["isOnline"] for p in people if p["uuid"] == bob.user_id] == [True]
    _, profiles = await http.get("/people/profiles", {"uuids": bob.user_id})
    assert profiles["profiles"][0]["presence"]["status"] == "online"

    mark = a.mark()
    await b.close()
    offline = await a.wait_for("presence:update", lambda d: d["user_id"] == bob.user_id, after=mark)
    assert offline["status"] == "offline" and len(offline["last_seen"]) == ISO_LEN
    gone = await a.wait_for("presence:user_disconnected", after=mark)
    assert gone == {"user_id": bob.user_id, "last_seen": offline["last_seen"]}
    _, profiles = await http.get("/people/profiles", {"uuids": bob.user_id})
    assert profiles["profiles"][0]["presence"] == {
        "status": "offline",
        "last_seen": offline["last_seen"],
    }


async def test_unauthenticated_socket_is_ignored(
    server: RunningDevServer, bob: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    stranger = probe_factory(None)
    await stranger.connect()
    await stranger.emit("sendItem", item_for(bob))
    await stranger.emit("clientReady", {})
    await stranger.emit("fetchPendingMessagesV2", {"limit": 5, "offset": 0})
    with pytest.raises(socketio.exceptions.TimeoutError):
        await stranger.call("deleteItem", {"itemId": "x"}, timeout=1)
    assert stranger.received == []
    assert server.server.context.messages.count_items(bob.user_id, bob.device_id) == 0
    # It can still authenticate afterwards.
    assert (await stranger.authenticate(bob))["authenticated"] is True


async def test_presence_per_device(
    server: RunningDevServer, alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    """Each device's clientReady is announced (a peer redistributes its sender key then);
    the user goes offline only with the last device."""
    bob2 = await add_device(server.url, bob, server.server.config.clock)
    a, b1, b2 = probe_factory(alice), probe_factory(bob), probe_factory(bob2)
    await a.start()
    await b1.start()
    await a.wait_for("presence:update", lambda d: d["user_id"] == bob.user_id)
    mark = a.mark()
    await b2.start()
    again = await a.wait_for("presence:update", lambda d: d["user_id"] == bob.user_id, after=mark)
    assert again["status"] == "online"
    mark = a.mark()
    await b1.close()
    hub = server.server.context.hub
    for _ in range(500):  # until the server has processed the disconnect
        if not hub.device_online(bob.user_id, bob.device_id):
            break
        await asyncio.sleep(0.01)
    assert not hub.device_online(bob.user_id, bob.device_id)
    await a.emit("fetchPendingMessagesV2", {})  # a round trip: anything sent is here now
    await a.wait_for("pendingMessagesResponse", after=mark)
    assert a.events("presence:user_disconnected") == []
    assert [e for e, d in a.received[mark:] if e == "presence:update"] == []
    await b2.close()
    assert (await a.wait_for("presence:user_disconnected", after=mark))["user_id"] == bob.user_id


async def test_reauthenticating_as_another_device_starts_over(
    alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory, server: RunningDevServer
) -> None:
    probe = probe_factory(alice)
    await probe.start()
    assert (await probe.authenticate(bob))["uuid"] == bob.user_id
    hub = server.server.context.hub
    assert not hub.device_online(alice.user_id, alice.device_id)
    assert hub.device_online(bob.user_id, bob.device_id)
    sender = probe_factory(alice)
    await sender.start()
    await sender.emit("sendItem", item_for(bob))
    await sender.wait_for("deliveryReceipt")
    assert probe.events("receiveItem") == []  # held: no clientReady as bob yet
    await probe.ready()
    await probe.wait_for("receiveItem")

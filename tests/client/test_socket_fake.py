"""SocketService against scriptable python-socketio servers on 127.0.0.1: handshake,
refused authentication, hostile payloads, overflow, acks, backoff, reconnects."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from peerwave_tui.errors import (
    LoggedOutError,
    NotConnectedError,
    RequestTimeoutError,
    ServerFailureError,
)
from peerwave_tui.models import ConnectionState
from peerwave_tui.socket import CONNECTED, RESYNC, STOPPED, SocketService, SocketSession
from peerwave_tui.wire import Credentials, IncomingItem, SenderKeyDistribution, sign
from tests.client.conftest import Recorder, free_port, serve
from tests.client.fake_socket_server import USER_ID, FakeSocketServer, accept, refuse
from tests.client.socket_helpers import EventReader, StateLog

CREDS = Credentials("0b6f3c1e-8a52-4c3e-9d0a-2f4b7e9c1a55", "secret-value", USER_ID)
GOOD_ITEM = {
    "sender": USER_ID,
    "senderDeviceId": 2,
    "recipient": USER_ID,
    "type": "message",
    "payload": "AAAA",
    "cipherType": 3,
    "itemId": "good-1",
    "originalRecipient": None,
}


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeSocketServer, str]]:
    server = FakeSocketServer()
    async with serve(server.app()) as url:
        yield server, url


def service_for(url: str, **kwargs: Any) -> SocketService:
    kwargs.setdefault("backoff_base", 0.05)
    kwargs.setdefault("backoff_cap", 0.5)
    kwargs.setdefault("handshake_timeout", 10.0)
    return SocketService(url, lambda: CREDS, **kwargs)


async def test_handshake_signs_authenticate_and_sends_client_ready(
    fake: tuple[FakeSocketServer, str],
) -> None:
    server, url = fake
    states = StateLog()
    service = service_for(url, on_state=states)
    reader = EventReader(service)
    try:
        await service.start()
        await service.start()  # idempotent
        session = await reader.until(CONNECTED)
        assert session == SocketSession(USER_ID, 1, CREDS.client_id)
        assert service.connected and service.device_id == 1 and service.user_id == USER_ID
        await server.wait_ready()
        (_, auth), (_, ready) = [
            e for e in server.received if e[0] in ("authenticate", "clientReady")
        ]
        assert set(auth) == {"X-Client-ID", "X-Timestamp", "X-Nonce", "X-Signature"}
        assert auth["X-Signature"] == sign(
            CREDS.client_id,
            CREDS.session_secret,
            int(auth["X-Timestamp"]),
            auth["X-Nonce"],
            "/socket.io/auth",
            b"",
        )
        assert abs(ready["timestamp"] - time.time() * 1000) < 60_000
        assert [s for s, _d, _r in states.states][:2] == [
            ConnectionState.CONNECTING,
            ConnectionState.CONNECTED,
        ]
    finally:
        await reader.aclose()
        await service.stop()
        await service.stop()  # idempotent
    assert service.state is ConnectionState.CLOSED and not service.running


@pytest.mark.parametrize("code", ["no_session", "invalid_signature", "client_not_found"])
async def test_refused_authentication_stops_and_says_why(
    fake: tuple[FakeSocketServer, str], code: str
) -> None:
    server, url = fake
    server.auth_answers = [refuse(code)]
    states = StateLog()
    service = service_for(url, on_state=states)
    reader = EventReader(service)
    try:
        await service.start()
        error = await reader.until(STOPPED)
        assert isinstance(error, LoggedOutError) and "Log in again" in str(error)
        await states.wait_for(ConnectionState.ERROR)
        await asyncio.sleep(0.5)  # several backoff periods: no new attempt may start
        assert server.connects == 1 and not service.running
        assert service.state is ConnectionState.ERROR
        assert service.last_error is error and states.of(ConnectionState.ERROR)[-1][1] == str(error)
        # after a new login the client may start it again
        server.auth_answers = [accept()]
        await service.start()
        await reader.until(CONNECTED)
    finally:
        await reader.aclose()
        await service.stop()


async def test_duplicate_nonce_is_retried_once(fake: tuple[FakeSocketServer, str]) -> None:
    server, url = fake
    server.auth_answers = [refuse("duplicate_nonce"), accept()]
    service = service_for(url)
    reader = EventReader(service)
    try:
        await service.start()
        await reader.until(CONNECTED)
        nonces = [d["X-Nonce"] for e, d in server.received if e == "authenticate"]
        assert len(nonces) == 2 and nonces[0] != nonces[1]
    finally:
        await reader.aclose()
        await service.stop()


async def test_duplicate_nonce_twice_stops(fake: tuple[FakeSocketServer, str]) -> None:
    server, url = fake
    server.auth_answers = [refuse("duplicate_nonce")]
    service = service_for(url)
    reader = EventReader(service)
    try:
        await service.start()
        error = await reader.until(STOPPED)
        assert error.code == "duplicate_request"
        assert sum(1 for e, _ in server.received if e == "authenticate") == 2
    finally:
        await reader.aclose()
        await service.stop()


async def test_timestamp_expired_corrects_the_clock_from_the_server(
    fake: tuple[FakeSocketServer, str],
) -> None:
    server, url = fake
    server.clock_skew_s = 20 * 60  # the server is 20 minutes ahead
    service = service_for(url)
    reader = EventReader(service)
    try:
        await service.start()
        await reader.until(CONNECTED)
        first, second = [d for e, d in server.received if e == "authenticate"]
        assert int(second["X-Timestamp"]) - int(first["X-Timestamp"]) > 19 * 60 * 1000
    finally:
        await reader.aclose()
        await service.stop()


async def test_hostile_events_are_dropped_and_the_service_stays_up(
    fake: tuple[FakeSocketServer, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, url = fake
    secret_text = "SECRET-PAYLOAD-TEXT"

    async def hostile(sid: str) -> None:
        emit = server.sio.emit
        await emit("receiveItem", {"itemId": 5, "payload": secret_text}, to=sid)  # wrong types
        await emit("receiveItem", [GOOD_ITEM], to=sid)  # not an object
        await emit("receiveItem", "just a string", to=sid)
        await emit("receiveItem", None, to=sid)  # no argument at all
        await emit("receiveItem", (GOOD_ITEM, GOOD_ITEM), to=sid)  # two arguments
        await emit("receiveItem", {**GOOD_ITEM, "payload": "A" * 2_000_000}, to=sid)  # huge
        await emit(
            "receiveSenderKeyDistribution",
            {
                "groupId": "g",
                "senderId": USER_ID,
                "senderDeviceId": 1,
                "distributionMessage": secret_text + "!!",
                "messageType": 3,
            },
            to=sid,
        )  # bad base64
        await emit("deliveryReceipt", {"itemId": "x", "recipientDeviceId": "NaN"}, to=sid)
        await emit("presence:update", {"user_id": {"nested": True}, "status": "online"}, to=sid)
        await emit("groupItemReadUpdate", {"itemId": "i", "readCount": -5}, to=sid)
        await emit("pendingMessagesResponse", {"items": "nope"}, to=sid)  # unsolicited
        await emit("authenticated", {"authenticated": False, "error": "no_session"}, to=sid)
        await emit("receiveItem", GOOD_ITEM, to=sid)  # the well-formed one

    server.on_ready = hostile
    service = service_for(url)
    reader = EventReader(service)
    caplog.set_level("DEBUG")
    try:
        await service.start()
        await reader.until(CONNECTED)
        item = await reader.until("receiveItem")
        assert isinstance(item, IncomingItem) and item.item_id == "good-1"
        assert reader.skipped == []  # nothing malformed got through
        assert service.stats.malformed == 11  # the late `authenticated` is ignored
        assert service.connected and service.last_error is None
    finally:
        await reader.aclose()
        await service.stop()
    assert secret_text not in caplog.text and "AAAA" not in caplog.text
    assert "dropped a malformed receiveItem event" in caplog.text


async def test_sender_key_distribution_before_client_ready_is_queued_first(
    fake: tuple[FakeSocketServer, str],
) -> None:
    """Handlers exist before `authenticate`: an event right after `authenticated`
    (as receiveSenderKeyDistribution on PeerWave) is kept, even while the client holds
    back clientReady."""
    server, url = fake
    skd = {
        "groupId": "g",
        "senderId": USER_ID,
        "senderDeviceId": 2,
        "distributionMessage": "AAAA",
        "messageType": 3,
    }

    async def right_away(sid: str) -> None:
        await server.sio.emit("receiveSenderKeyDistribution", skd, to=sid)

    gate = asyncio.Event()
    seen_before_ready: list[int] = []

    async def ready_gate(session: SocketSession) -> None:
        await gate.wait()
        seen_before_ready.append(service.backlog)

    server.on_authenticated = right_away
    service = service_for(url, ready_gate=ready_gate)
    reader = EventReader(service)
    try:
        await service.start()
        for _ in range(500):
            if service.backlog:
                break
            await asyncio.sleep(0.01)
        assert not server.ready_sids  # clientReady not sent yet
        gate.set()
        name, payload = await reader.next()
        assert name == "receiveSenderKeyDistribution" and isinstance(payload, SenderKeyDistribution)
        assert payload.ciphertext == b"\x00\x00\x00"
        assert (await reader.next())[0] == CONNECTED
        assert seen_before_ready == [1]
    finally:
        await reader.aclose()
        await service.stop()


async def test_full_inbox_drops_and_asks_for_a_resync(fake: tuple[FakeSocketServer, str]) -> None:
    server, url = fake
    sent = 30

    async def flood(sid: str) -> None:
        for i in range(sent):
            await server.sio.emit("receiveItem", {**GOOD_ITEM, "itemId": f"i{i}"}, to=sid)
        await server.sio.emit("pendingMessagesAvailable", {"count": 1, "timestamp": "x"}, to=sid)

    server.on_ready = flood
    service = service_for(url, queue_size=8)
    reader = EventReader(service)
    try:
        await service.start()
        await server.wait_ready()
        for _ in range(500):  # let the flood arrive while nobody reads
            if service.stats.dropped_full + service.backlog >= sent + 2:
                break
            await asyncio.sleep(0.01)
        names = []
        while True:
            name, payload = await reader.next()
            names.append(name)
            if name == RESYNC:
                break
        assert names[0] == CONNECTED
        kept = names.count("receiveItem")
        assert kept == 7 and payload.dropped == service.stats.dropped_full == sent + 1 - kept
        # order kept for what got in
        assert service.backlog == 0
    finally:
        await reader.aclose()
        await service.stop()


async def test_take_ready_batches_without_reordering(fake: tuple[FakeSocketServer, str]) -> None:
    server, url = fake

    async def burst(sid: str) -> None:
        for i in range(3):
            await server.sio.emit("receiveItem", {**GOOD_ITEM, "itemId": f"i{i}"}, to=sid)
        await server.sio.emit("presence:update", {"user_id": USER_ID, "status": "online"}, to=sid)
        await server.sio.emit("receiveItem", {**GOOD_ITEM, "itemId": "i3"}, to=sid)

    server.on_ready = burst
    service = service_for(url)
    reader = EventReader(service)
    try:
        await service.start()
        await reader.until(CONNECTED)
        for _ in range(500):
            if service.backlog >= 5:
                break
            await asyncio.sleep(0.01)
        first = await reader.until("receiveItem")
        rest = service.take_ready("receiveItem", 10)
        assert [first.item_id] + [i.item_id for i in rest] == ["i0", "i1", "i2"]
        assert (await reader.next())[0] == "presence"
        assert (await reader.next())[1].item_id == "i3"
    finally:
        await reader.aclose()
        await service.stop()


async def test_fetch_pending_and_delete_item(fake: tuple[FakeSocketServer, str]) -> None:
    server, url = fake

    async def pending(sid: str, data: Any) -> None:
        if data["offset"] == 99:
            await server.sio.emit("fetchPendingMessagesError", {"error": "db down"}, to=sid)
            return
        if data["offset"] == 98:
            return  # never answers
        page = {
            "items": [{**GOOD_ITEM, "timestamp": "2026-01-01T00:00:00.000Z"}],
            "messages": [],
            "hasMore": True,
            "offset": data["offset"],
            "total": 1,
        }
        await server.sio.emit("pendingMessagesResponse", page, to=sid)

    async def delete(sid: str, data: Any) -> Any:
        if data["itemId"] == "slow":
            await asyncio.sleep(5)
        return {"success": True, "deletedCount": 0}

    server.on_pending = pending
    server.on_delete = delete
    service = service_for(url, request_timeout=1.0)
    reader = EventReader(service)
    try:
        with pytest.raises(NotConnectedError):
            await service.fetch_pending(50, 0)
        await service.start()
        await reader.until(CONNECTED)
        page_a, page_b = await asyncio.gather(
            service.fetch_pending(50, 0), service.fetch_pending(50, 7)
        )
        assert (page_a.offset, page_b.offset) == (0, 7) and page_a.has_more
        assert page_a.items[0].timestamp is not None
        ack = await service.delete_item("good-1")
        assert ack.success and ack.deleted_count == 0
        with pytest.raises(ServerFailureError) as failed:
            await service.fetch_pending(50, 99)
        assert "db down" in str(failed.value)
        with pytest.raises(RequestTimeoutError):
            await service.fetch_pending(50, 98)
        with pytest.raises(RequestTimeoutError):
            await service.delete_item("slow")
        assert ("fetchPendingMessagesV2", {"limit": 50, "offset": 7}) in server.received
    finally:
        await reader.aclose()
        await service.stop()


async def test_outbound_events_are_well_formed(fake: tuple[FakeSocketServer, str]) -> None:
    server, url = fake
    service = service_for(url)
    reader = EventReader(service)
    try:
        await service.start()
        await reader.until(CONNECTED)
        await asyncio.gather(
            *[
                service.send_item(
                    item_id=f"i{n}",
                    recipient="peer",
                    recipient_device_id=2,
                    type="message",
                    payload="AAAA",
                    cipher_type=3,
                    original_recipient="peer",
                )
                for n in range(5)
            ]
        )
        await service.send_group_item(channel_id="c", item_id="g1", payload="AAAA")
        await service.mark_group_item_read("g1")
        await service.emit("custom", {"a": 1})
        for _ in range(500):
            if any(e == "custom" for e, _ in server.received):
                break
            await asyncio.sleep(0.01)
    finally:
        await reader.aclose()
        await service.stop()
    sends = [d for e, d in server.received if e == "sendItem"]
    assert sorted(d["itemId"] for d in sends) == [f"i{n}" for n in range(5)]
    assert sends[0] == {
        "itemId": sends[0]["itemId"],
        "recipient": "peer",
        "recipientDeviceId": 2,
        "type": "message",
        "payload": "AAAA",
        "cipherType": 3,
        "originalRecipient": "peer",
    }
    (group,) = [d for e, d in server.received if e == "sendGroupItem"]
    assert (
        group["cipherType"] == 4 and group["channelId"] == "c" and group["timestamp"].endswith("Z")
    )
    assert ("markGroupItemRead", {"itemId": "g1"}) in server.received


async def test_server_initiated_disconnect_reconnects(fake: tuple[FakeSocketServer, str]) -> None:
    server, url = fake
    service = service_for(url)
    reader = EventReader(service)
    try:
        await service.start()
        await reader.until(CONNECTED)
        sid = await server.wait_ready()
        waiting = asyncio.create_task(service.fetch_pending(50, 0))  # never answered
        await asyncio.sleep(0.1)
        await server.sio.disconnect(sid)
        with pytest.raises(NotConnectedError):
            await waiting
        await reader.until(CONNECTED)
        assert server.connects == 2 and service.stats.connects == 2
    finally:
        await reader.aclose()
        await service.stop()


class RecordingRandom(random.Random):
    def __init__(self) -> None:
        super().__init__(0)
        self.bounds: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return b / 10


async def test_unreachable_server_backs_off_with_full_jitter() -> None:
    rng = RecordingRandom()
    states = StateLog()
    service = SocketService(
        f"http://127.0.0.1:{free_port()}",
        lambda: CREDS,
        backoff_base=0.1,
        backoff_cap=0.8,
        rng=rng,
        on_state=states,
    )
    try:
        await service.start()
        await states.wait_for(ConnectionState.OFFLINE, count=6)
    finally:
        await service.stop()
    assert rng.bounds[:6] == [(0, 0.1), (0, 0.2), (0, 0.4), (0, 0.8), (0, 0.8), (0, 0.8)]
    _state, detail, retry_at = states.of(ConnectionState.OFFLINE)[0]
    assert "cannot reach 127.0.0.1" in (detail or "") and retry_at is not None


async def test_silent_server_handshake_times_out_and_keeps_retrying(silent_server: str) -> None:
    states = StateLog()
    service = SocketService(
        silent_server,
        lambda: CREDS,
        handshake_timeout=0.5,
        backoff_base=0.05,
        backoff_cap=0.1,
        on_state=states,
    )
    try:
        await service.start()
        await states.wait_for(ConnectionState.OFFLINE, count=2)
        assert service.running and not service.connected
    finally:
        await service.stop()
    assert "in time" in (states.of(ConnectionState.OFFLINE)[0][1] or "")


async def test_missing_credentials_stop_at_once() -> None:
    service = SocketService(f"http://127.0.0.1:{free_port()}", lambda: None)
    reader = EventReader(service)
    try:
        await service.start()
        error = await reader.until(STOPPED)
        assert isinstance(error, LoggedOutError)
    finally:
        await reader.aclose()
        await service.stop()


async def test_retry_now_cuts_the_wait_short(fake: tuple[FakeSocketServer, str]) -> None:
    _server, url = fake
    port = free_port()
    states = StateLog()
    service = SocketService(
        f"http://127.0.0.1:{port}",
        lambda: CREDS,
        backoff_base=60,
        backoff_cap=60,
        rng=RecordingRandom(),
        on_state=states,
    )
    try:
        await service.start()
        await states.wait_for(ConnectionState.OFFLINE)
        assert service.next_retry_at is not None
        service.retry_now()
        await states.wait_for(ConnectionState.OFFLINE, count=2, timeout=10)
    finally:
        await service.stop()


async def test_socket_connection_sends_no_origin(recorder: tuple[Recorder, str]) -> None:
    rec, url = recorder  # answers the websocket upgrade with 200 {}: the attempt fails
    states = StateLog()
    service = SocketService(url, lambda: CREDS, backoff_base=5, backoff_cap=5, on_state=states)
    try:
        await service.start()
        await states.wait_for(ConnectionState.OFFLINE)
    finally:
        await service.stop()
    upgrade = next(s for s in rec.seen if s.path.startswith("/socket.io"))
    assert upgrade.query.get("transport") == "websocket"
    assert "Origin" not in upgrade.headers
    assert upgrade.headers["X-PeerWave-App-Secret"] == "peerwave-mobile-app"

"""Bad input never takes the dev server down (protocol.md section 10.1): the documented
error responses, ignored events, no tracebacks, no effect on other clients."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import socketio

from tests.devserver.conftest import ciphertext
from tests.devserver_fixtures import ReadyAccount, RunningDevServer, SignedHttp, SocketProbe

HttpFactory = Callable[[ReadyAccount], SignedHttp]
ProbeFactory = Callable[[ReadyAccount | None], SocketProbe]
TWO_MB = 2 * 1024 * 1024


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Any:
    """Every test here ends with no logged exception and no traceback on stderr."""
    caplog.set_level(logging.INFO)
    yield
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert "Traceback" not in capfd.readouterr().err


async def _raw(
    server: RunningDevServer,
    method: str,
    path: str,
    data: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    async with aiohttp.ClientSession(server.url) as http:
        async with http.request(method, path, data=data, headers=headers or {}) as response:
            return response.status, await response.json()


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2, 3]",
        b'"a string"',
        b"\xff\xfe garbage",
        b"",
        b'{"email": 42}',
        b'{"email": null}',
    ],
)
async def test_malformed_bodies_are_400(server: RunningDevServer, body: bytes) -> None:
    status, result = await _raw(
        server, "POST", "/register", body, {"Content-Type": "application/json"}
    )
    assert status == 400 and isinstance(result["error"], str)


async def test_wrong_types_on_signed_routes(alice: ReadyAccount, http_factory: HttpFactory) -> None:
    http = http_factory(alice)
    for path, body in [
        ("/client/channels", ["not", "an", "object"]),
        ("/sessions/revoke", {"sessionId": 12}),
        ("/signal/prekeys/batch", {"preKeys": [{"id": -1, "data": ciphertext(33)}]}),
        ("/api/signal/distribute-sender-key", {}),
    ]:
        status, result = await http.post(path, body)
        assert status == 400 and isinstance(result["error"], str), path
    assert (await http.get("/api/signal/pending-messages/v2", {"limit": "many"}))[0] == 400
    assert (await http.delete("/signal/prekey/abc"))[0] == 400


async def _chunks(total: int) -> AsyncIterator[bytes]:
    chunk = b" " * 65536
    sent = 0
    while sent < total:
        yield chunk
        sent += len(chunk)


async def test_oversize_bodies_are_413(
    server: RunningDevServer, alice: ReadyAccount, clock: Any
) -> None:
    big = b'{"email": "' + b"a" * TWO_MB + b'"}'
    status, result = await _raw(
        server, "POST", "/register", big, {"Content-Type": "application/json"}
    )
    assert status == 413 and isinstance(result["error"], str)
    # Without a Content-Length (chunked), on a signed route.
    from tests.devserver_fixtures import signed_headers

    headers = signed_headers(
        alice.client_id, alice.session_secret, "/client/channels", timestamp_ms=clock.ms()
    )
    status, result = await _raw(server, "POST", "/client/channels", _chunks(TWO_MB + 1), headers)
    assert status == 413 and isinstance(result["error"], str)
    # Just under the limit is read (and then judged on its content).
    fits = b'{"email": "' + b"a" * (TWO_MB - 100) + b'"}'
    status, _ = await _raw(server, "POST", "/register", fits, {"Content-Type": "application/json"})
    assert status == 400


@pytest.mark.parametrize(
    ("origin", "app_secret", "expected"),
    [
        ("https://evil.example", False, 403),
        ("null", False, 403),
        ("http://localhost.evil.example", False, 403),
        ("https://evil.example", True, 200),
        ("http://localhost:5173", False, 200),
        ("http://127.0.0.1", False, 200),
        ("http://[::1]:3000", False, 200),
        (None, False, 200),
    ],
)
async def test_origin_rule(
    server: RunningDevServer, origin: str | None, app_secret: bool, expected: int
) -> None:
    headers = {}
    if origin is not None:
        headers["Origin"] = origin
    if app_secret:
        headers["X-PeerWave-App-Secret"] = "peerwave-mobile-app"
    status, body = await _raw(server, "GET", "/client/meta", headers=headers)
    assert status == expected
    if expected == 403:
        assert isinstance(body["error"], str)
    # Auth routes too: refused before they are reached.
    status, _ = await _raw(
        server,
        "POST",
        "/backupcode/mobile-verify",
        b"{}",
        {**headers, "Content-Type": "application/json"},
    )
    assert status == (403 if expected == 403 else 400)


async def test_non_ascii_where_codes_are_compared(
    server: RunningDevServer, alice: ReadyAccount, clock: Any
) -> None:
    """OTPs, magic keys, backup codes and signatures with non-ASCII text are just wrong."""
    json_headers = {"Content-Type": "application/json"}
    for path, body, expected in [
        ("/otp", {"email": alice.email, "otp": "1234é"}, 400),
        ("/magic/verify", {"key": "a|b|c|dé", "clientid": alice.client_id}, 400),
        (
            "/backupcode/mobile-verify",
            {"email": alice.email, "backupCode": "Ä" * 16, "clientId": alice.client_id},
            401,
        ),
    ]:
        status, _ = await _raw(server, "POST", path, json.dumps(body).encode(), json_headers)
        assert status == expected, path
    from tests.devserver_fixtures import signed_headers

    headers = signed_headers(
        alice.client_id, alice.session_secret, "/client/auth/test", timestamp_ms=clock.ms()
    )
    headers["X-Signature"] = "é" * 64
    status, body = await _raw(server, "GET", "/client/auth/test", headers=headers)
    assert (status, body["error"]) == (401, "invalid_signature")


async def test_unknown_paths_and_methods(server: RunningDevServer) -> None:
    assert (await _raw(server, "GET", "/no/such/path"))[0] == 404
    assert (await _raw(server, "GET", "/auth/token/refresh"))[0] == 404
    status, body = await _raw(server, "PUT", "/client/meta")
    assert status == 405 and "error" in body


async def test_internal_error_is_500_and_the_server_carries_on(
    server: RunningDevServer,
    alice: ReadyAccount,
    http_factory: HttpFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler that fails (here: a broken store method) answers 500 internal_error."""

    def broken(*args: object) -> None:
        raise RuntimeError("simulated failure")

    accounts = server.server.context.accounts
    http = http_factory(alice)
    with monkeypatch.context() as patch:
        patch.setattr(accounts, "visible_people", broken)
        assert await http.get("/people/list") == (500, {"error": "internal_error"})
    assert any("internal error" in r.getMessage() for r in caplog.records)
    caplog.clear()  # that one traceback was the point of the test
    assert (await http.get("/people/list"))[0] == 200


# --------------------------------------------------------------------------- sockets


async def test_socket_origin_rule(
    server: RunningDevServer, alice: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    foreign = probe_factory(alice)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await foreign.connect(headers={"Origin": "https://evil.example"})
    for origin in ("http://localhost:8080", "http://127.0.0.1:1234"):
        local = probe_factory(alice)
        await local.connect(headers={"Origin": origin})
        assert (await local.authenticate())["authenticated"] is True
        await local.close()


async def test_polling_transport(
    alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    polling = probe_factory(bob)
    await polling.connect(transports=["polling"])
    assert (await polling.authenticate())["authenticated"] is True
    await polling.ready()
    a = probe_factory(alice)
    await a.start()
    await a.emit("sendItem", {
        "itemId": "p1", "recipient": bob.user_id, "recipientDeviceId": bob.device_id, "type": "message",
        "payload": ciphertext(), "cipherType": 2, "originalRecipient": bob.user_id,
    })  # fmt: skip
    assert (await polling.wait_for("receiveItem"))["itemId"] == "p1"
    # A websocket for the same device replaces it. (This also ends the test quickly:
    # a polling client closing by itself waits for its pending long-poll to time out.)
    replacement = probe_factory(bob)
    await replacement.start()
    await asyncio.wait_for(polling.disconnected.wait(), 10)


GARBAGE: list[Any] = [
    None, "text", 42, 3.5, True, [1, 2], {}, {"itemId": 5}, {"nested": {"deep": [None]}},
    {"itemId": "x", "recipient": "not-a-uuid", "recipientDeviceId": 1, "type": "m", "payload": "AAAA", "cipherType": 3},
    {"itemId": "x", "recipient": str(uuid.uuid4()), "recipientDeviceId": "one", "type": "m", "payload": "AAAA", "cipherType": 3},
    {"itemId": "x", "recipient": str(uuid.uuid4()), "recipientDeviceId": 1, "type": "m", "payload": "@@@@", "cipherType": 3},
    {"itemId": "x", "recipient": str(uuid.uuid4()), "recipientDeviceId": 2**80, "type": "m", "payload": "AAAA", "cipherType": 3},
    {"limit": -5, "offset": "x"}, {"channelId": None, "itemId": []},
]  # fmt: skip
EVENTS = ["authenticate", "clientReady", "sendItem", "deleteItem", "fetchPendingMessagesV2",
          "sendGroupItem", "markGroupItemRead"]  # fmt: skip


async def test_garbage_events_hurt_nobody(
    server: RunningDevServer, alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    a, b = probe_factory(alice), probe_factory(bob)
    await a.start()
    await b.start()
    for event in EVENTS:
        for payload in GARBAGE:
            if event == "authenticate":
                continue  # re-authentication is tested below
            await a.emit(event, payload)
    await a.emit("noSuchEvent", {"x": 1})
    await a.sio.emit("sendItem", ("two", "arguments"))
    with pytest.raises(socketio.exceptions.TimeoutError):
        await a.call("noSuchEvent", {}, timeout=1)
    # Nothing was stored for anyone, and both sockets still work.
    assert server.server.context.messages.count_items(bob.user_id, bob.device_id) == 0
    mark = a.mark()
    await a.emit("sendItem", {
        "itemId": "ok", "recipient": bob.user_id, "recipientDeviceId": bob.device_id, "type": "message",
        "payload": ciphertext(), "cipherType": 3, "originalRecipient": bob.user_id,
    })  # fmt: skip
    await a.wait_for("deliveryReceipt", after=mark)
    assert (await b.wait_for("receiveItem"))["itemId"] == "ok"
    assert a.sio.connected and b.sio.connected


@pytest.mark.parametrize(
    "raw",
    [
        '42["sendItem",',  # truncated JSON
        '42["sendItem",' + "[" * 50_000 + "]" * 50_000 + "]",  # absurd nesting
        "42garbage",
        "4",
        '2["deleteItem"]',
        "9",
    ],
)
async def test_malformed_packets(
    alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory, raw: str
) -> None:
    """Packets python-socketio cannot even decode: logged in one line, nobody else affected."""
    a, b = probe_factory(alice), probe_factory(bob)
    await a.start()
    await b.start()
    await a.sio.eio.send(raw)
    mark = b.mark()
    await b.emit("fetchPendingMessagesV2", {"limit": 1, "offset": 0})
    await b.wait_for("pendingMessagesResponse", after=mark)
    if a.sio.connected:  # the sender may be dropped; if not, it still works
        mark = a.mark()
        await a.emit("fetchPendingMessagesV2", {"limit": 1, "offset": 0})
        await a.wait_for("pendingMessagesResponse", after=mark)


@pytest.mark.parametrize("payload", [None, "text", [1], 7])
async def test_non_object_authenticate_is_dropped(
    alice: ReadyAccount, probe_factory: ProbeFactory, payload: Any
) -> None:
    probe = probe_factory(alice)
    await probe.connect()
    await probe.sio.emit("authenticate", payload)
    assert (await probe.authenticate())["authenticated"] is True
    assert [e for e, _ in probe.received] == ["authenticated"]


async def test_incomplete_authenticate_is_refused(
    alice: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    probe = probe_factory(alice)
    await probe.connect()
    result = await probe.authenticate(payload={"X-Client-ID": alice.client_id})
    assert result == {"authenticated": False, "error": "invalid_signature"}


async def test_oversize_socket_message_affects_only_its_sender(
    alice: ReadyAccount, bob: ReadyAccount, probe_factory: ProbeFactory
) -> None:
    a, b = probe_factory(alice), probe_factory(bob)
    await a.start()
    await b.start()
    huge = {"itemId": "big", "recipient": bob.user_id, "recipientDeviceId": 1, "type": "message",
            "payload": "A" * (3 * 1024 * 1024), "cipherType": 3}  # fmt: skip
    await a.emit("sendItem", huge)
    await asyncio.wait_for(a.disconnected.wait(), 10)
    mark = b.mark()
    await b.emit("fetchPendingMessagesV2", {"limit": 5, "offset": 0})
    assert (await b.wait_for("pendingMessagesResponse", after=mark))["items"] == []

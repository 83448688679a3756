"""HMAC signing, the 401 codes of protocol.md 3.2 and the socket handshake codes of 3.4."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiohttp
import pytest

from peerwave_tui.devserver.auth import signature
from tests.devserver_fixtures import (
    ManualClock,
    ReadyAccount,
    RunningDevServer,
    SocketProbe,
    create_account,
    login_with_backup_code,
    register_account,
    running_devserver,
    sign,
    signed_headers,
)

VECTOR_CLIENT = "0b6f3c1e-8a52-4c3e-9d0a-2f4b7e9c1a55"
VECTOR_SECRET = "q3Yt9mVxL2bKcR8nPz4wE1uJ6hSfA0dG7iOlTyBvXk4"
VECTOR_TS = "1767225600000"
VECTOR_NONCE = "7d3c2b9e-1f4a-4e8b-a6c5-0e9d8f7a6b5c"
VECTORS = [
    ("/people/profiles", "", "a9a09ecaef84d25e4b266319ea53409e8da6ebd2645b2e56f8bafd37a14aabb2"),
    (
        "/signal/identity",
        '{"publicKey":"BQ==","registrationId":"4242"}',
        "ae0ec1557a9c72620beece61170bf1f858f8523353f5ae23d1c2538b4a86edce",
    ),
    ("/socket.io/auth", "", "7ead9794c59993b512d13e547a0092d0a17357ca663121b77dac241675e86a94"),
]
DAY = 24 * 60 * 60


@pytest.mark.parametrize(("path", "body", "expected"), VECTORS)
def test_signature_vectors(path: str, body: str, expected: str) -> None:
    args = (VECTOR_CLIENT, VECTOR_TS, VECTOR_NONCE, path)
    assert signature(VECTOR_SECRET, *args, body.encode()) == expected
    assert sign(VECTOR_SECRET, *args, body) == expected


def vector_headers(path: str, body: str) -> dict[str, str]:
    expected = next(sig for p, b, sig in VECTORS if p == path and b == body)
    return {
        "X-Client-ID": VECTOR_CLIENT,
        "X-Timestamp": VECTOR_TS,
        "X-Nonce": VECTOR_NONCE,
        "X-Signature": expected,
    }


@pytest.mark.parametrize(("path", "body", "expected"), VECTORS)
async def test_server_accepts_the_vector_signatures(
    tmp_path: Path, path: str, body: str, expected: str
) -> None:
    """A session with the vector secret and the server clock at the vector time: the
    vector signature passes authentication (one server per vector: they share a nonce)."""
    clock = ManualClock(int(VECTOR_TS) / 1000)
    async with running_devserver(tmp_path, clock=clock) as server:
        account = await create_account(server.url, server, client_id=VECTOR_CLIENT, clock=clock)
        server.server.context.db.execute(
            "UPDATE sessions SET secret = ? WHERE client_id = ?", (VECTOR_SECRET, VECTOR_CLIENT)
        )
        headers = {
            "X-Client-ID": VECTOR_CLIENT,
            "X-Timestamp": VECTOR_TS,
            "X-Nonce": VECTOR_NONCE,
            "X-Signature": expected,
        }
        if path == "/socket.io/auth":
            probe = SocketProbe(server.url, clock=clock)
            try:
                await probe.connect()
                assert await probe.authenticate(payload=headers) == {
                    "authenticated": True,
                    "uuid": account.user_id,
                    "deviceId": account.device_id,
                    "clientId": VECTOR_CLIENT,
                }
            finally:
                await probe.close()
            return
        async with aiohttp.ClientSession(server.url) as http:
            if path == "/people/profiles":
                response = await http.get(path, params={"uuids": account.user_id}, headers=headers)
                assert response.status == 200
                profiles = (await response.json())["profiles"]
                assert [p["uuid"] for p in profiles] == [account.user_id]
            else:
                headers["Content-Type"] = "application/json"
                response = await http.post(path, data=body.encode(), headers=headers)
                # The signature is accepted; then the 1-byte key fails the size check.
                assert response.status == 400
                assert "33 bytes" in (await response.json())["error"]


# ------------------------------------------------------------------ HTTP failures


async def _get(server: RunningDevServer, path: str, headers: dict[str, str]) -> tuple[int, dict]:
    async with aiohttp.ClientSession(server.url) as http:
        async with http.get(path, headers=headers) as response:
            return response.status, await response.json()


def _headers(
    account: ReadyAccount, clock: ManualClock, path: str = "/client/auth/test", **kw: object
) -> dict[str, str]:
    return signed_headers(
        account.client_id,
        account.session_secret,
        path,
        timestamp_ms=clock.ms(),
        **kw,  # type: ignore[arg-type]
    )


async def test_auth_test_reports_hmac(
    server: RunningDevServer, alice: ReadyAccount, clock: ManualClock
) -> None:
    status, body = await _get(server, "/client/auth/test", _headers(alice, clock))
    assert status == 200
    assert set(body) == {"status", "message", "userId", "timestamp", "authMethod"}
    assert body["authMethod"] == "HMAC" and body["userId"] == alice.user_id


async def test_no_authentication_at_all(server: RunningDevServer) -> None:
    status, body = await _get(server, "/client/auth/test", {})
    assert (status, body["error"]) == (401, "unauthorized")
    # X-Client-ID alone (no X-Signature) is not an HMAC request either.
    status, body = await _get(server, "/people/list", {"X-Client-ID": str(uuid.uuid4())})
    assert (status, body["error"]) == (401, "unauthorized")


@pytest.mark.parametrize("dropped", ["X-Timestamp", "X-Nonce"])
async def test_missing_auth_headers(
    server: RunningDevServer, alice: ReadyAccount, clock: ManualClock, dropped: str
) -> None:
    headers = _headers(alice, clock)
    del headers[dropped]
    status, body = await _get(server, "/client/auth/test", headers)
    assert (status, body["error"]) == (401, "missing_auth_headers")
    assert isinstance(body["message"], str)


@pytest.mark.parametrize(
    ("offset_s", "ok"), [(-299, True), (299, True), (-301, False), (301, False)]
)
async def test_timestamp_window(
    server: RunningDevServer, alice: ReadyAccount, clock: ManualClock, offset_s: int, ok: bool
) -> None:
    headers = signed_headers(
        alice.client_id, alice.session_secret, "/client/auth/test",
        timestamp_ms=clock.ms() + offset_s * 1000,
    )  # fmt: skip
    status, body = await _get(server, "/client/auth/test", headers)
    if ok:
        assert status == 200
    else:
        assert (status, body["error"]) == (401, "request_expired")


async def test_nonce_reuse_refused_for_ten_minutes(
    server: RunningDevServer, alice: ReadyAccount, clock: ManualClock
) -> None:
    nonce = str(uuid.uuid4())
    assert (await _get(server, "/client/auth/test", _headers(alice, clock, nonce=nonce)))[0] == 200
    status, body = await _get(server, "/client/auth/test", _headers(alice, clock, nonce=nonce))
    assert (status, body["error"]) == (401, "duplicate_request")
    clock.advance(9 * 60)
    status, body = await _get(server, "/client/auth/test", _headers(alice, clock, nonce=nonce))
    assert (status, body["error"]) == (401, "duplicate_request")
    clock.advance(10 * 60 + 1)
    assert (await _get(server, "/client/auth/test", _headers(alice, clock, nonce=nonce)))[0] == 200


async def test_unknown_client_is_no_session(
    server: RunningDevServer, alice: ReadyAccount, clock: ManualClock
) -> None:
    stranger = ReadyAccount(**{**alice.__dict__, "client_id": str(uuid.uuid4())})
    status, body = await _get(server, "/client/auth/test", _headers(stranger, clock))
    assert (status, body["error"]) == (401, "no_session")


async def test_invalid_signature(
    server: RunningDevServer, alice: ReadyAccount, clock: ManualClock
) -> None:
    wrong = ReadyAccount(**{**alice.__dict__, "session_secret": "not-the-secret"})
    status, body = await _get(server, "/client/auth/test", _headers(wrong, clock))
    assert (status, body["error"]) == (401, "invalid_signature")
    # Signed for another path.
    status, body = await _get(
        server, "/client/auth/test", _headers(alice, clock, path="/people/list")
    )
    assert (status, body["error"]) == (401, "invalid_signature")


async def test_body_is_verified_as_raw_bytes(
    server: RunningDevServer, alice: ReadyAccount, clock: ManualClock
) -> None:
    """The server checks the bytes it received, never re-serialized JSON."""
    spaced = '{"name": "c", "description": "", "private": false, "type": "signal"}'
    compact = '{"name":"c","description":"","private":false,"type":"signal"}'
    async with aiohttp.ClientSession(server.url) as http:
        for signed_body, sent_body, expected in [(spaced, spaced, 201), (compact, spaced, 401)]:
            headers = signed_headers(
                alice.client_id, alice.session_secret, "/client/channels", signed_body,
                timestamp_ms=clock.ms(),
            )  # fmt: skip
            headers["Content-Type"] = "application/json"
            async with http.post("/client/channels", data=sent_body.encode(), headers=headers) as r:
                assert r.status == expected, await r.text()


async def test_expiry_and_sliding_extension(
    server: RunningDevServer, alice: ReadyAccount, clock: ManualClock
) -> None:
    """Backup-code sessions last 90 days; a request with under 7 days left slides to 90."""
    clock.advance(80 * DAY)  # 10 days left: no slide
    assert (await _get(server, "/client/auth/test", _headers(alice, clock)))[0] == 200
    clock.advance(5 * DAY)  # 5 days left: this request slides the expiry to now + 90 days
    assert (await _get(server, "/client/auth/test", _headers(alice, clock)))[0] == 200
    clock.advance(89 * DAY)
    assert (await _get(server, "/client/auth/test", _headers(alice, clock)))[0] == 200
    clock.advance(91 * DAY)
    status, body = await _get(server, "/client/auth/test", _headers(alice, clock))
    assert (status, body["error"]) == (401, "session_expired")


async def test_session_without_device_is_client_not_found(
    server: RunningDevServer, alice: ReadyAccount, clock: ManualClock
) -> None:
    server.server.context.db.execute("DELETE FROM clients WHERE clientid = ?", (alice.client_id,))
    status, body = await _get(server, "/client/auth/test", _headers(alice, clock))
    assert (status, body["error"]) == (500, "client_not_found")


# ------------------------------------------------------------- socket handshake


async def _socket_auth(server: RunningDevServer, clock: ManualClock, payload: dict) -> dict:
    probe = SocketProbe(server.url, clock=clock)
    try:
        await probe.connect()
        return await probe.authenticate(payload=payload)
    finally:
        await probe.close()


def _socket_payload(account: ReadyAccount, clock: ManualClock, **kw: object) -> dict[str, str]:
    return _headers(account, clock, path="/socket.io/auth", **kw)


async def test_socket_authentication_errors(
    server: RunningDevServer, alice: ReadyAccount, clock: ManualClock
) -> None:
    def failed(code: str) -> dict:
        return {"authenticated": False, "error": code}

    stale = _headers(alice, clock, path="/socket.io/auth")
    stale["X-Timestamp"] = str(clock.ms() - 6 * 60 * 1000)
    stale["X-Signature"] = sign(
        alice.session_secret,
        alice.client_id,
        stale["X-Timestamp"],
        stale["X-Nonce"],
        "/socket.io/auth",
        "",
    )
    assert await _socket_auth(server, clock, stale) == failed("timestamp_expired")

    payload = _socket_payload(alice, clock)
    assert (await _socket_auth(server, clock, payload))["authenticated"] is True
    assert await _socket_auth(server, clock, payload) == failed("duplicate_nonce")

    stranger = ReadyAccount(**{**alice.__dict__, "client_id": str(uuid.uuid4())})
    assert await _socket_auth(server, clock, _socket_payload(stranger, clock)) == failed(
        "no_session"
    )

    wrong = ReadyAccount(**{**alice.__dict__, "session_secret": "nope"})
    assert await _socket_auth(server, clock, _socket_payload(wrong, clock)) == failed(
        "invalid_signature"
    )
    # Signed like an HTTP request for another path.
    other = _headers(alice, clock, path="/client/auth/test")
    assert await _socket_auth(server, clock, other) == failed("invalid_signature")

    server.server.context.db.execute("DELETE FROM clients WHERE clientid = ?", (alice.client_id,))
    assert await _socket_auth(server, clock, _socket_payload(alice, clock)) == failed(
        "client_not_found"
    )


async def test_socket_authentication_ignores_expiry(
    server: RunningDevServer, alice: ReadyAccount, clock: ManualClock
) -> None:
    clock.advance(200 * DAY)
    status, body = await _get(server, "/client/auth/test", _headers(alice, clock))
    assert (status, body["error"]) == (401, "session_expired")
    assert (await _socket_auth(server, clock, _socket_payload(alice, clock)))[
        "authenticated"
    ] is True


async def test_quirk_no_session(tmp_path: Path) -> None:
    """The fresh-install defect: login returns a secret, every signed request gets no_session."""
    async with running_devserver(tmp_path, quirk_no_session=True) as server:
        with pytest.raises(AssertionError, match="401 .*no_session"):
            await create_account(server.url, server)  # its /client/list check is refused
        clock = ManualClock()
        client_id = str(uuid.uuid4())
        email, _, codes = await register_account(server.url, server, client_id=client_id)
        login = await login_with_backup_code(server.url, email, codes[0], client_id)
        assert len(login["sessionSecret"]) == 43
        account = ReadyAccount(email, "x", login["userId"], client_id, login["sessionSecret"], 1)
        status, body = await _get(server, "/client/auth/test", _headers(account, clock))
        assert (status, body["error"]) == (401, "no_session")
        result = await _socket_auth(server, clock, _socket_payload(account, clock))
        assert result == {"authenticated": False, "error": "no_session"}

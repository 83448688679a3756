"""ApiService against small real HTTP servers on 127.0.0.1: headers, signing, retries,
error mapping. (The full account flow against the dev server is in test_api_devserver.)"""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import pytest
from aiohttp import web

from peerwave_tui.api import ApiService
from peerwave_tui.errors import (
    ApiError,
    AuthError,
    ConfigError,
    LoggedOutError,
    LoginRejectedError,
    NetworkError,
    ProtocolError,
    RateLimitedError,
    RequestTimeoutError,
    ServerDefectError,
    ServerFailureError,
    ServerUnreachableError,
    SessionExpiredError,
)
from peerwave_tui.wire import Credentials, sign
from tests.client.conftest import Recorder, free_port, reply

CREDS = Credentials(
    "0b6f3c1e-8a52-4c3e-9d0a-2f4b7e9c1a55", "q3Yt9mVxL2bKcR8nPz4wE1uJ6hSfA0dG7iOlTyBvXk4", "u1"
)


def _verify(seen_headers: dict[str, str], path: str, body: bytes) -> bool:
    expected = sign(
        seen_headers["X-Client-ID"],
        CREDS.session_secret,
        int(seen_headers["X-Timestamp"]),
        seen_headers["X-Nonce"],
        path,
        body,
    )
    return seen_headers["X-Signature"] == expected


async def test_signed_requests_sign_the_exact_bytes_and_send_no_origin(
    recorder: tuple[Recorder, str],
) -> None:
    rec, url = recorder
    channel = {"uuid": "c-1", "name": "n", "description": "", "owner": "u1", "type": "signal"}
    rec.on(
        "POST", "/client/channels/c-1/join", reply(200, {"status": "success", "channel": channel})
    )
    rec.on("GET", "/people/profiles", reply(200, {"profiles": []}))
    async with ApiService(url, credentials=CREDS) as api:
        await api.upload_identity(b"\x05" + bytes(32), 4242)
        await api.join_channel("c-1")  # POST without a body
        await api.profiles(["a", "b"])
        await api.meta()
    identity, join, profiles, meta = rec.seen
    for seen in rec.seen:
        assert "Origin" not in seen.headers
        assert seen.headers["X-PeerWave-App-Secret"] == "peerwave-mobile-app"
        assert "Cookie" not in seen.headers
    assert identity.headers["Content-Type"] == "application/json"
    assert (
        identity.body
        == b'{"publicKey":"BQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","registrationId":"4242"}'
    )
    assert _verify(identity.headers, "/signal/identity", identity.body)
    assert abs(int(identity.headers["X-Timestamp"]) - time.time() * 1000) < 60_000
    assert join.method == "POST" and join.body == b"" and "Content-Type" not in join.headers
    assert _verify(join.headers, "/client/channels/c-1/join", b"")
    # the query string is not part of the signed path
    assert profiles.query == {"uuids": "a,b"} and _verify(profiles.headers, "/people/profiles", b"")
    assert "X-Signature" not in meta.headers  # public route
    assert len({s.headers.get("X-Nonce") for s in rec.seen[:3]}) == 3


async def test_request_expired_corrects_clock_and_retries_once(
    recorder: tuple[Recorder, str],
) -> None:
    rec, url = recorder
    skew = 10 * 60  # the server is ten minutes ahead
    rec.on(
        "GET",
        "/client/auth/test",
        reply(
            401, {"error": "request_expired"}, {"Date": formatdate(time.time() + skew, usegmt=True)}
        ),
        reply(200, {"authMethod": "HMAC"}),
    )
    async with ApiService(url, credentials=CREDS) as api:
        await api.auth_test()
        assert abs(api.clock_offset_ms - skew * 1000) < 5_000
    first, second = rec.seen
    assert first.headers["X-Nonce"] != second.headers["X-Nonce"]
    assert (
        int(second.headers["X-Timestamp"]) - int(first.headers["X-Timestamp"]) > (skew - 5) * 1000
    )


async def test_request_expired_twice_is_a_clock_error(recorder: tuple[Recorder, str]) -> None:
    rec, url = recorder
    rec.on("GET", "/client/auth/test", reply(401, {"error": "request_expired"}))
    async with ApiService(url, credentials=CREDS) as api:
        with pytest.raises(AuthError) as info:
            await api.auth_test()
    assert info.value.code == "request_expired" and "clock" in str(info.value)
    assert len(rec.seen) == 2


async def test_duplicate_request_retries_once_with_a_new_nonce(
    recorder: tuple[Recorder, str],
) -> None:
    rec, url = recorder
    rec.on("GET", "/people/list", reply(401, {"error": "duplicate_request"}), reply(200, []))
    async with ApiService(url, credentials=CREDS) as api:
        assert await api.people() == []
        rec.on("GET", "/people/list", reply(401, {"error": "duplicate_request"}))
        with pytest.raises(AuthError):
            await api.people()
    nonces = [s.headers["X-Nonce"] for s in rec.seen]
    assert len(nonces) == 4 and len(set(nonces)) == 4


@pytest.mark.parametrize(
    ("status", "code", "error_type"),
    [
        (401, "no_session", LoggedOutError),
        (401, "invalid_signature", LoggedOutError),
        (401, "session_expired", SessionExpiredError),
        (401, "missing_auth_headers", AuthError),
        (401, "unauthorized", AuthError),
        (500, "client_not_found", LoggedOutError),
    ],
)
async def test_auth_failures_map_without_retry(
    recorder: tuple[Recorder, str], status: int, code: str, error_type: type[Exception]
) -> None:
    rec, url = recorder
    rec.on("GET", "/signal/status/minimal", reply(status, {"error": code, "message": "nope"}))
    async with ApiService(url, credentials=CREDS) as api:
        with pytest.raises(error_type) as info:
            await api.key_status()
    assert len(rec.seen) == 1
    assert getattr(info.value, "code", None) == code
    assert CREDS.session_secret not in str(info.value) and "127.0.0.1" in str(info.value)


async def test_no_session_right_after_login_is_the_server_defect(
    recorder: tuple[Recorder, str],
) -> None:
    rec, url = recorder
    rec.on("GET", "/client/auth/test", reply(401, {"error": "no_session"}))
    async with ApiService(url, credentials=CREDS) as api:
        with pytest.raises(ServerDefectError) as info:
            await api.auth_test(just_logged_in=True)
        assert "ALTER TABLE client_sessions ADD COLUMN device_id INTEGER" in str(info.value)
        with pytest.raises(ServerDefectError):
            await api.check_new_session()
        with pytest.raises(LoggedOutError) as later:
            await api.auth_test()
        assert not isinstance(later.value, ServerDefectError)


async def test_rate_limit_and_server_failures(recorder: tuple[Recorder, str]) -> None:
    rec, url = recorder
    rec.on("GET", "/people/list", reply(429, {"error": "Too many requests"}, {"Retry-After": "30"}))
    rec.on("GET", "/client/channels", reply(503, {"message": "maintenance\x1b[2J window"}))
    rec.on("GET", "/signal/status/minimal", reply(404, {"error": "Not found"}))
    async with ApiService(url, credentials=CREDS) as api:
        with pytest.raises(RateLimitedError) as limited:
            await api.people()
        assert limited.value.retry_after == 30 and "30 s" in str(limited.value)
        with pytest.raises(ServerFailureError) as failed:
            await api.channels()
        assert failed.value.status == 503 and "maintenance" in str(failed.value)
        assert "\x1b" not in str(failed.value)
        with pytest.raises(ApiError) as missing:
            await api.key_status()
        assert missing.value.status == 404


async def test_non_json_success_is_a_protocol_error(recorder: tuple[Recorder, str]) -> None:
    rec, url = recorder
    rec.on("GET", "/people/list", lambda _r, _b: web.Response(text="<html>proxy</html>"))
    rec.on("GET", "/signal/prekey_bundle/u2", reply(200, {"not": "a list"}))
    async with ApiService(url, credentials=CREDS) as api:
        with pytest.raises(ProtocolError):
            await api.people()
        with pytest.raises(ProtocolError):
            await api.prekey_bundle("u2")
        with pytest.raises(ProtocolError):  # a server-supplied id must not reshape the URL
            await api.prekey_bundle("../admin")


async def test_logins_normalize_and_report_clearly(recorder: tuple[Recorder, str]) -> None:
    rec, url = recorder
    ok = {"status": "ok", "message": "m", "sessionSecret": "sec", "userId": "u1", "email": "a@b.c"}
    rec.on(
        "POST",
        "/backupcode/mobile-verify",
        reply(200, ok),
        reply(401, {"status": "error", "message": "Invalid backup code"}),
        reply(500, {"error": "geo lookup failed"}),
    )
    rec.on("POST", "/magic/verify", reply(200, {**ok, "refreshToken": "r1"}))
    async with ApiService(url) as api:
        result = await api.login_backup_code("a@b.c", " abcd efgh ijkl mnop ", "cid", "tui")
        assert result.session_secret == "sec" and result.refresh_token is None
        with pytest.raises(LoginRejectedError) as rejected:
            await api.login_backup_code("a@b.c", "x", "cid")
        assert "Invalid backup code" in str(rejected.value)
        with pytest.raises(ServerFailureError) as failed:
            await api.login_backup_code("a@b.c", "x", "cid")
        assert "may have been used up" in str(failed.value)
        magic = await api.verify_magic_key(" key|a|b|c ", "cid")
        assert magic.refresh_token == "r1"
    first = rec.seen[0]
    assert first.body == (
        b'{"email":"a@b.c","backupCode":"ABCDEFGHIJKLMNOP","clientId":"cid","deviceInfo":"tui"}'
    )
    assert "X-Signature" not in first.headers
    assert rec.seen[-1].body == b'{"key":"key|a|b|c","clientid":"cid"}'
    assert len(rec.seen) == 4  # never retried


async def test_prekeys_go_in_batches_of_100(recorder: tuple[Recorder, str]) -> None:
    rec, url = recorder
    async with ApiService(url, credentials=CREDS) as api:
        sent = await api.upload_prekeys((i, b"\x05" + bytes(32)) for i in range(1, 251))
    assert sent == 250
    assert [s.body.count(b'"id"') for s in rec.seen] == [100, 100, 50]
    assert all(_verify(s.headers, "/signal/prekeys/batch", s.body) for s in rec.seen)


async def test_registration_uses_one_cookie_session(recorder: tuple[Recorder, str]) -> None:
    rec, url = recorder

    def set_cookie(_r: web.Request, _b: bytes) -> web.StreamResponse:
        resp = web.json_response({"status": "otp", "wait": 60})
        resp.set_cookie("connect.sid", "s%3Aabc", path="/", httponly=True)
        return resp

    rec.on("POST", "/register", set_cookie)
    rec.on("POST", "/otp", reply(202, {"status": "ok"}))
    rec.on("GET", "/backupcode/list", reply(200, {"status": "ok", "backupCodes": ["A" * 16] * 10}))
    async with ApiService(url, credentials=CREDS) as api:
        result = await api.register("a@b.c")
        assert (result.status, result.wait) == ("otp", 60)
        assert await api.verify_otp("a@b.c", " 12345 ", "cid") is True
        assert len(await api.backup_codes()) == 10
        await api.key_status()
    cookies = [s.headers.get("Cookie") for s in rec.seen]
    assert cookies == [None, "connect.sid=s%3Aabc", "connect.sid=s%3Aabc", None]
    assert rec.seen[1].body == b'{"email":"a@b.c","otp":"12345","clientId":"cid"}'


async def test_unreachable_server() -> None:
    async with ApiService(f"http://127.0.0.1:{free_port()}") as api:
        with pytest.raises(ServerUnreachableError) as info:
            await api.meta()
    assert "127.0.0.1" in str(info.value)


async def test_silent_server_times_out(silent_server: str) -> None:
    async with ApiService(silent_server, credentials=CREDS, request_timeout=0.5) as api:
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError) as info:
            await api.people()
        assert time.monotonic() - started < 30
    assert "did not answer" in str(info.value)


async def test_signed_call_without_credentials_and_closed_service() -> None:
    api = ApiService(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(LoggedOutError):
        await api.people()
    await api.aclose()
    await api.aclose()  # idempotent
    with pytest.raises(NetworkError):
        await api.meta()


@pytest.mark.parametrize("bad", ["ftp://x", "chat.example.org", "http://x/path", "http://x?q=1"])
def test_base_url_validation(bad: str) -> None:
    with pytest.raises(ConfigError):
        ApiService(bad)


async def test_one_server_hanging_does_not_block_another(
    silent_server: str, recorder: tuple[Recorder, str]
) -> None:
    rec, url = recorder
    rec.on("GET", "/people/list", reply(200, []))
    async with (
        ApiService(silent_server, credentials=CREDS, request_timeout=3) as slow,
        ApiService(url, credentials=CREDS) as fast,
    ):
        hanging = asyncio.create_task(slow.people())
        await fast.people()  # answers while the other is still waiting
        assert not hanging.done()
        with pytest.raises(RequestTimeoutError):
            await hanging


async def test_invalid_signature_after_a_secret_rotation_is_retried_once(
    recorder: tuple[Recorder, str],
) -> None:
    rec, url = recorder
    rotated = Credentials(CREDS.client_id, "the-new-secret", CREDS.user_id)
    api = ApiService(url, credentials=CREDS)

    def rotate_then_refuse(_r: web.Request, _b: bytes) -> web.StreamResponse:
        api.set_credentials(rotated)  # a /token/refresh finished while this was in flight
        return web.json_response({"error": "invalid_signature"}, status=401)

    rec.on("GET", "/people/list", rotate_then_refuse, reply(200, []))
    try:
        assert await api.people() == []
        # without a rotation the same answer means logged out, at once
        rec.on("GET", "/people/list", reply(401, {"error": "invalid_signature"}))
        with pytest.raises(LoggedOutError):
            await api.people()
    finally:
        await api.aclose()
    first, second, third = rec.seen
    assert second.headers["X-Signature"] == sign(
        rotated.client_id,
        rotated.session_secret,
        int(second.headers["X-Timestamp"]),
        second.headers["X-Nonce"],
        "/people/list",
        b"",
    )
    assert third.headers["X-Nonce"] not in (first.headers["X-Nonce"], second.headers["X-Nonce"])

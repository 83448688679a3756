"""Creating accounts: register, OTPs (file, log, mail), backup codes, profile,
backup-code login, registration modes, /client/meta (protocol.md 2.1, 2.2, 2.5, 10.3)."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.devserver_fixtures import (
    ManualClock,
    ReadyAccount,
    RunningDevServer,
    SignedHttp,
    login_with_backup_code,
    register_account,
    running_devserver,
)

DAY = 24 * 60 * 60
MakeAccount = Callable[..., Awaitable[ReadyAccount]]
HttpFactory = Callable[[ReadyAccount], SignedHttp]


async def _post(http: aiohttp.ClientSession, path: str, body: Any) -> tuple[int, Any]:
    async with http.post(path, json=body) as response:
        return response.status, await response.json()


def _cookie_session(server: RunningDevServer) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(server.url, cookie_jar=aiohttp.CookieJar(unsafe=True))


# ------------------------------------------------------------------ registration


async def test_registration_step_by_step(
    server: RunningDevServer, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    email = "Carol@Example.org"
    caplog.set_level(logging.INFO, logger="peerwave_tui.devserver")
    async with _cookie_session(server) as http:
        assert await _post(http, "/register", {"email": email}) == (
            200,
            {"status": "otp", "wait": 60},
        )
        lines = server.otp_file.read_text().splitlines()
        assert len(lines) == 1 and re.fullmatch(r"carol@example\.org \d{5}", lines[0])
        otp = lines[0].split(" ")[1]
        assert f"OTP for carol@example.org: {otp}" in caplog.messages

        clock.advance(20)
        assert await _post(http, "/register", {"email": email}) == (
            200,
            {"status": "waitotp", "wait": 40},
        )
        assert len(server.otp_file.read_text().splitlines()) == 1  # no new OTP yet

        wrong = "00000" if otp != "00000" else "11111"
        assert await _post(http, "/otp", {"email": email, "otp": wrong}) == (
            400,
            {"error": "Invalid OTP"},
        )
        assert await _post(http, "/otp", {"email": email, "otp": otp}) == (202, {"status": "ok"})
        assert await _post(http, "/otp", {"email": email, "otp": otp}) == (
            400,
            {"error": "Invalid OTP"},
        )

        async with http.get("/backupcode/list") as response:
            assert response.status == 200
            body = await response.json()
        assert set(body) == {"status", "backupCodes"} and body["status"] == "ok"
        codes = body["backupCodes"]
        assert len(codes) == 10 and all(re.fullmatch(r"[A-Z0-9]{16}", c) for c in codes)
        async with http.get("/backupcode/list") as response:
            assert response.status == 400 and "error" in await response.json()

        status, body = await _post(http, "/client/profile/setup", {"displayName": "Carol"})
        assert status == 200
        assert body == {
            "status": "ok",
            "user": {
                "uuid": body["user"]["uuid"],
                "email": "carol@example.org",
                "displayName": "Carol",
            },
        }
        # The cookie session ended with the profile setup.
        async with http.get("/backupcode/list") as response:
            assert response.status == 401

    client_id = str(uuid.uuid4())
    async with aiohttp.ClientSession(server.url) as http:
        bad = {"email": email, "backupCode": "A" * 16, "clientId": client_id}
        status, body = await _post(http, "/backupcode/mobile-verify", bad)
        assert status == 401 and body["status"] == "error" and isinstance(body["message"], str)
        good = {**bad, "backupCode": codes[3], "deviceInfo": "tests"}
        status, body = await _post(http, "/backupcode/mobile-verify", good)
        assert status == 200
        assert set(body) == {
            "status",
            "message",
            "sessionSecret",
            "userId",
            "email",
        }  # no refreshToken
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["sessionSecret"])
        status, again = await _post(http, "/backupcode/mobile-verify", good)  # the code is used up
        assert status == 401 and again["status"] == "error"


async def test_otp_expires_after_ten_minutes(server: RunningDevServer, clock: ManualClock) -> None:
    async with _cookie_session(server) as http:
        await _post(http, "/register", {"email": "late@example.org"})
        otp = await server.read_otp("late@example.org")
        clock.advance(10 * 60 + 1)
        assert await _post(http, "/otp", {"email": "late@example.org", "otp": otp}) == (
            400,
            {"error": "Invalid OTP"},
        )
        # After the wait, a new register sends a fresh OTP that works.
        assert (await _post(http, "/register", {"email": "late@example.org"}))[1]["status"] == "otp"
        fresh = await server.read_otp("late@example.org")
        assert (await _post(http, "/otp", {"email": "late@example.org", "otp": fresh}))[0] == 202


async def test_register_refuses_bad_and_taken_addresses(
    server: RunningDevServer, alice: ReadyAccount
) -> None:
    async with _cookie_session(server) as http:
        assert (await _post(http, "/register", {"email": "not-an-address"}))[0] == 400
        status, body = await _post(http, "/register", {"email": alice.email})
        assert status == 400 and "error" in body


async def test_second_otp_verification_is_200(
    server: RunningDevServer, alice: ReadyAccount
) -> None:
    """An account that already has backup codes gets 200, not 202 (protocol.md 2.1 step 2)."""
    async with _cookie_session(server) as http:
        otp = server.server.context.otps.issue(alice.email)  # as a recovery flow would
        assert await _post(http, "/otp", {"email": alice.email, "otp": otp}) == (
            200,
            {"status": "ok"},
        )


async def test_display_name_must_be_unique(server: RunningDevServer, alice: ReadyAccount) -> None:
    with pytest.raises(AssertionError, match="409"):
        await register_account(server.url, server, display_name="Alice")


async def test_profile_picture_rules(server: RunningDevServer) -> None:
    async with _cookie_session(server) as http:
        await _post(http, "/register", {"email": "pic@example.org"})
        otp = await server.read_otp("pic@example.org")
        await _post(http, "/otp", {"email": "pic@example.org", "otp": otp})
        too_big = "data:image/png;base64," + "A" * (1024 * 1024 * 4 // 3 + 8)
        for picture in ["https://example.org/x.png", "data:image/png;base64,@@@", too_big]:
            status, body = await _post(
                http, "/client/profile/setup", {"displayName": "Pic", "picture": picture}
            )
            assert status == 400 and "error" in body
        ok = {"displayName": "Pic", "picture": "data:image/png;base64,iVBORw0KGgo="}
        assert (await _post(http, "/client/profile/setup", ok))[0] == 200


@pytest.mark.parametrize(
    ("settings", "email", "body_extra", "expected"),
    [
        (
            {"registration_mode": "email_suffix", "email_suffixes": ("corp.example",)},
            "a@corp.example",
            {},
            200,
        ),
        (
            {"registration_mode": "email_suffix", "email_suffixes": ("corp.example",)},
            "a@other.example",
            {},
            403,
        ),
        (
            {"registration_mode": "invitation_only", "invitation_tokens": ("tok",)},
            "a@x.example",
            {},
            403,
        ),
        (
            {"registration_mode": "invitation_only", "invitation_tokens": ("tok",)},
            "a@x.example",
            {"invitationToken": "tok"},
            200,
        ),
        (
            {"registration_mode": "invitation_only", "admin_emails": ("boss@x.example",)},
            "boss@x.example",
            {},
            200,
        ),
    ],
)
async def test_registration_modes(
    tmp_path: Path, settings: dict[str, Any], email: str, body_extra: dict[str, str], expected: int
) -> None:
    async with (
        running_devserver(tmp_path, **settings) as server,
        aiohttp.ClientSession(server.url) as http,
    ):
        status, body = await _post(http, "/register", {"email": email, **body_extra})
        assert status == expected
        if expected == 403:
            assert "error" in body
        async with http.get("/client/meta") as response:
            assert (await response.json())["registrationMode"] == settings["registration_mode"]


async def test_people_list_only_after_native_login(
    server: RunningDevServer, alice: ReadyAccount, http_factory: HttpFactory
) -> None:
    email, _, codes = await register_account(server.url, server, display_name="Dora")
    http = http_factory(alice)
    _, people = await http.get("/people/list")
    assert "Dora" not in [p["displayName"] for p in people]
    await login_with_backup_code(server.url, email, codes[0], str(uuid.uuid4()))
    _, people = await http.get("/people/list")
    assert "Dora" in [p["displayName"] for p in people]


async def test_otp_with_client_id_registers_a_keyless_device(
    server: RunningDevServer, alice: ReadyAccount, http_factory: HttpFactory, clock: ManualClock
) -> None:
    """/otp with clientId creates the device; the login with that clientId reuses it."""
    client_id = str(uuid.uuid4())
    email, _, codes = await register_account(server.url, server, client_id=client_id)
    user = server.server.context.accounts.user_by_email(email)
    assert user is not None
    _, bundle = await http_factory(alice).get(f"/signal/prekey_bundle/{user.uuid}")
    theirs = [e for e in bundle if e["userId"] == user.uuid]
    assert [(e["clientid"], e["device_id"], e["public_key"]) for e in theirs] == [
        (client_id, 1, None)
    ]
    login = await login_with_backup_code(server.url, email, codes[0], client_id)
    account = ReadyAccount(email, "x", login["userId"], client_id, login["sessionSecret"], 1)
    _, clients = await http_factory(account).get("/client/list")
    assert clients == {"clients": [{"clientid": client_id, "device_id": 1}]}


# --------------------------------------------------------------------- /client/meta


async def test_client_meta(tmp_path: Path) -> None:
    async with running_devserver(
        tmp_path, name="Test Server", admin_emails=("op@x.example",)
    ) as server:
        async with aiohttp.ClientSession(server.url) as http, http.get("/client/meta") as response:
            assert response.status == 200
            meta = await response.json()
    assert set(meta) == {
        "serverName", "serverPicture", "version", "compatibility", "registrationMode",
        "name", "description", "features", "serverOperator",
    }  # fmt: skip
    assert meta["serverName"] == meta["name"] == "Test Server"
    assert meta["serverPicture"] is None
    assert meta["registrationMode"] == "open"
    assert meta["features"] == {"e2ee": True}
    assert set(meta["serverOperator"]) == {"owner", "contact", "location", "additionalInfo"}
    semver = re.compile(r"\d+\.\d+\.\d+")
    assert semver.fullmatch(meta["version"])
    assert set(meta["compatibility"]) == {"minClientVersion", "maxClientVersion"}
    assert all(semver.fullmatch(v) for v in meta["compatibility"].values())


# ------------------------------------------------------------------------- SMTP


class _FakeSmtp:
    """A minimal SMTP server on 127.0.0.1 that keeps the DATA of every mail."""

    def __init__(self) -> None:
        self.mails: list[str] = []
        self.received = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 fake ESMTP\r\n")
        data: list[bytes] | None = None
        while line := await reader.readline():
            if data is not None:
                if line in (b".\r\n", b".\n"):
                    self.mails.append(b"".join(data).decode())
                    self.received.set()
                    data = None
                    writer.write(b"250 queued\r\n")
                else:
                    data.append(line)
                continue
            verb = line[:4].upper()
            if verb == b"DATA":
                data = []
                writer.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_otps_are_mailed_with_smtp(tmp_path: Path) -> None:
    smtp = _FakeSmtp()
    port = await smtp.start()
    try:
        async with running_devserver(tmp_path, smtp=f"127.0.0.1:{port}") as server:
            async with aiohttp.ClientSession(server.url) as http:
                await _post(http, "/register", {"email": "mail@example.org"})
            otp = await server.read_otp("mail@example.org")
            await asyncio.wait_for(smtp.received.wait(), 10)
    finally:
        await smtp.close()
    assert "To: mail@example.org" in smtp.mails[0]
    assert f"Your OTP is {otp}" in smtp.mails[0]


async def test_unreachable_smtp_is_only_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    smtp = _FakeSmtp()
    port = await smtp.start()
    await smtp.close()  # nothing listens there any more
    async with running_devserver(tmp_path, smtp=f"127.0.0.1:{port}") as server:
        async with aiohttp.ClientSession(server.url) as http:
            assert (await _post(http, "/register", {"email": "m@example.org"}))[0] == 200
        assert await server.read_otp("m@example.org")
    assert any("could not mail" in m for m in caplog.messages)
    assert not any(r.exc_info for r in caplog.records)

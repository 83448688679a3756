"""Magic keys, token and session refresh, revoking sessions, devices
(protocol.md sections 2.3, 2.4 and 10.4)."""

from __future__ import annotations

import asyncio
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
    SocketProbe,
    create_account,
    login_with_backup_code,
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


# ----------------------------------------------------------------------- magic keys


async def test_magic_key_login(
    server: RunningDevServer, alice: ReadyAccount, http_factory: HttpFactory, clock: ManualClock
) -> None:
    status, body = await http_factory(alice).get("/magic/generate")
    assert status == 200 and set(body) == {"magicKey", "expiresAt"}
    fields = body["magicKey"].split("|")
    assert len(fields) == 4
    assert fields[0] == server.url
    assert re.fullmatch(r"[0-9a-f]{64}", fields[1]) and re.fullmatch(r"[0-9a-f]{64}", fields[3])
    assert int(fields[2]) == clock.ms() and body["expiresAt"] == clock.ms() + 5 * 60 * 1000

    new_client = str(uuid.uuid4())
    async with aiohttp.ClientSession(server.url) as http:
        verify = {"key": body["magicKey"], "clientid": new_client, "deviceInfo": "laptop"}
        status, login = await _post(http, "/magic/verify", verify)
        assert status == 200
        assert set(login) == {
            "status",
            "message",
            "sessionSecret",
            "userId",
            "email",
            "refreshToken",
        }
        assert login["userId"] == alice.user_id and login["email"] == alice.email
        status, again = await _post(http, "/magic/verify", verify)  # single use
        assert status == 400 and again["status"] == "failed" and isinstance(again["message"], str)

    device = ReadyAccount(
        alice.email, "Alice", alice.user_id, new_client, login["sessionSecret"], 0
    )
    http2 = http_factory(device)
    _, clients = await http2.get("/client/list")
    assert sorted(c["device_id"] for c in clients["clients"]) == [1, 2]
    # Magic-key sessions start at 30 days.
    clock.advance(30 * DAY + 1)
    status, body = await http2.get("/client/auth/test")
    assert (status, body["error"]) == (401, "session_expired")


@pytest.mark.parametrize("spoil", ["tamper", "expire", "shape"])
async def test_bad_magic_keys(
    server: RunningDevServer,
    alice: ReadyAccount,
    http_factory: HttpFactory,
    clock: ManualClock,
    spoil: str,
) -> None:
    _, body = await http_factory(alice).get("/magic/generate")
    key = body["magicKey"]
    if spoil == "tamper":
        head, _, tag = key.rpartition("|")
        key = head + "|" + ("0" if tag[0] != "0" else "1") + tag[1:]
    elif spoil == "expire":
        clock.advance(5 * 60 + 1)
    else:
        key = key.rsplit("|", 1)[0]
    async with aiohttp.ClientSession(server.url) as http:
        status, body = await _post(
            http, "/magic/verify", {"key": key, "clientid": str(uuid.uuid4())}
        )
    assert status == 400 and body["status"] == "failed"


async def test_magic_key_server_url(tmp_path: Path) -> None:
    """Built from Host and X-Forwarded-Proto, unless --public-url says otherwise."""
    async with running_devserver(tmp_path / "a") as server:
        account = await create_account(server.url, server)
        async with SignedHttp(server.url, account) as http:
            _, body = await http.request(
                "GET",
                "/magic/generate",
                headers={"X-Forwarded-Proto": "https", "Host": "chat.example:8443"},
            )
        assert body["magicKey"].startswith("https://chat.example:8443|")
    async with running_devserver(tmp_path / "b", public_url="https://pw.example/") as server:
        account = await create_account(server.url, server)
        async with SignedHttp(server.url, account) as http:
            _, body = await http.get("/magic/generate")
        assert body["magicKey"].startswith("https://pw.example|")


async def test_magic_keys_are_forgotten_on_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with running_devserver(tmp_path, data_dir=data) as server:
        account = await create_account(server.url, server)
        async with SignedHttp(server.url, account) as http:
            _, body = await http.get("/magic/generate")
    async with (
        running_devserver(tmp_path, data_dir=data) as server,
        aiohttp.ClientSession(server.url) as http,
    ):
        status, result = await _post(
            http, "/magic/verify", {"key": body["magicKey"], "clientid": str(uuid.uuid4())}
        )
        assert status == 400 and result["status"] == "failed"


# --------------------------------------------------------------- refresh and revoke


async def test_token_refresh_rotates_both(
    server: RunningDevServer, alice: ReadyAccount, http_factory: HttpFactory, clock: ManualClock
) -> None:
    _, body = await http_factory(alice).get("/magic/generate")
    client_id = str(uuid.uuid4())
    async with aiohttp.ClientSession(server.url) as http:
        _, login = await _post(
            http, "/magic/verify", {"key": body["magicKey"], "clientid": client_id}
        )
        request = {"clientId": client_id, "refreshToken": login["refreshToken"]}
        status, fresh = await _post(http, "/token/refresh", request)
        assert status == 200 and set(fresh) == {"sessionSecret", "refreshToken", "userId"}
        assert fresh["userId"] == alice.user_id
        assert fresh["sessionSecret"] != login["sessionSecret"]
        assert fresh["refreshToken"] != login["refreshToken"]
        assert (await _post(http, "/token/refresh", request))[0] == 401  # the old token is dead
        async with http.post("/auth/token/refresh", json=request) as response:
            assert response.status == 404
        # A backup-code session has no refresh token.
        status, _ = await _post(
            http, "/token/refresh", {"clientId": alice.client_id, "refreshToken": "x"}
        )
        assert status == 401
    old = ReadyAccount(alice.email, "A", alice.user_id, client_id, login["sessionSecret"], 2)
    status, result = await http_factory(old).get("/client/auth/test")
    assert (status, result["error"]) == (401, "invalid_signature")
    new = ReadyAccount(alice.email, "A", alice.user_id, client_id, fresh["sessionSecret"], 2)
    assert (await http_factory(new).get("/client/auth/test"))[0] == 200


async def test_session_refresh_extends(
    alice: ReadyAccount, http_factory: HttpFactory, clock: ManualClock
) -> None:
    http = http_factory(alice)
    clock.advance(60 * DAY)
    assert await http.post("/session/refresh") == (200, {"status": "ok", "expiresIn": 90 * DAY})
    clock.advance(89 * DAY)
    assert (await http.get("/client/auth/test"))[0] == 200


async def test_revoke_sessions(
    server: RunningDevServer, alice: ReadyAccount, bob: ReadyAccount, http_factory: HttpFactory
) -> None:
    from tests.devserver_fixtures import add_device

    clock = server.server.config.clock
    second = await add_device(server.url, alice, clock)
    third = await add_device(server.url, alice, clock)
    http = http_factory(alice)
    status, listed = await http.get("/sessions/list")
    assert status == 200
    assert sorted(s["device_id"] for s in listed) == [1, 2, 3]
    assert all(
        set(s) == {"clientId", "device_id", "deviceInfo", "createdAt", "expiresAt"} for s in listed
    )

    assert (await http.post("/sessions/revoke", {"sessionId": bob.client_id}))[0] == 404
    assert await http.post("/sessions/revoke", {"sessionId": second.client_id}) == (
        200,
        {"status": "ok"},
    )
    status, body = await http_factory(second).get("/client/auth/test")
    assert (status, body["error"]) == (401, "no_session")

    assert await http.post("/sessions/revoke-all") == (200, {"status": "ok"})
    assert (await http_factory(third).get("/client/auth/test"))[1]["error"] == "no_session"
    assert (await http.get("/client/auth/test"))[0] == 200  # revoke-all spares the caller
    assert (await http_factory(bob).get("/client/auth/test"))[0] == 200

    assert await http.post("/sessions/revoke", {"sessionId": alice.client_id}) == (
        200,
        {"status": "ok"},
    )
    assert (await http.get("/client/auth/test"))[1]["error"] == "no_session"


async def test_logout_does_not_end_hmac_sessions(
    server: RunningDevServer, alice: ReadyAccount, http_factory: HttpFactory
) -> None:
    http = http_factory(alice)
    assert (await http.post("/logout"))[0] == 200
    assert (await http.get("/client/auth/test"))[0] == 200


async def test_delete_device(
    server: RunningDevServer, alice: ReadyAccount, bob: ReadyAccount, http_factory: HttpFactory
) -> None:
    from tests.devserver_fixtures import add_device

    second = await add_device(server.url, alice, server.server.config.clock)
    http = http_factory(alice)
    assert (await http.delete(f"/client/{bob.client_id}"))[0] == 404
    assert await http.delete(f"/client/{second.client_id}") == (200, {"status": "ok"})
    _, clients = await http.get("/client/list")
    assert clients == {"clients": [{"clientid": alice.client_id, "device_id": 1}]}
    _, bundle = await http_factory(bob).get(f"/signal/prekey_bundle/{alice.user_id}")
    assert [e["clientid"] for e in bundle if e["userId"] == alice.user_id] == [alice.client_id]
    assert (await http_factory(second).get("/client/auth/test"))[1]["error"] == "no_session"


async def test_reused_client_id_wipes_the_device(
    server: RunningDevServer,
    alice: ReadyAccount,
    bob: ReadyAccount,
    http_factory: HttpFactory,
    probe_factory: Callable[[ReadyAccount | None], SocketProbe],
) -> None:
    """Bob logging in with Alice's clientId wipes her device and disconnects its socket."""
    alice_probe = probe_factory(alice)
    await alice_probe.start()
    items = server.server.context.messages
    items.add_item(
        item_id="i1", sender=bob.user_id, sender_device=1, recipient=alice.user_id,
        recipient_device=alice.device_id, item_type="message", payload="AAAA",
        cipher_type=3, original_recipient=alice.user_id,
    )  # fmt: skip
    await login_with_backup_code(server.url, bob.email, bob.backup_codes.pop(), alice.client_id)
    await asyncio.wait_for(alice_probe.disconnected.wait(), 10)
    assert items.count_items(alice.user_id, alice.device_id) == 0
    device = server.server.context.accounts.device(alice.client_id)
    assert device is not None and (device.owner, device.device_id) == (bob.user_id, 2)
    assert (await http_factory(alice).get("/client/auth/test"))[0] == 401

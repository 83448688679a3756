"""Rate limits (off by default; --rate-limits gives the PeerWave numbers of protocol.md
section 9), --purge-days, and the command-line switches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from peerwave_tui.cli import build_parser
from peerwave_tui.devserver.config import DevServerConfig
from tests.devserver.conftest import ciphertext
from tests.devserver_fixtures import (
    ManualClock,
    RunningDevServer,
    SignedHttp,
    create_account,
    running_devserver,
)

DAY = 24 * 60 * 60


async def _register(http: aiohttp.ClientSession, n: int) -> tuple[int, dict[str, str]]:
    async with http.post("/register", json={"email": f"r{n}@example.org"}) as response:
        return response.status, dict(response.headers)


async def test_rate_limits_are_off_by_default(server: RunningDevServer) -> None:
    async with aiohttp.ClientSession(server.url) as http:
        assert [(await _register(http, n))[0] for n in range(20)] == [200] * 20


async def test_register_limit(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_devserver(tmp_path, rate_limits=True, clock=clock) as server:
        async with aiohttp.ClientSession(server.url) as http:
            assert [(await _register(http, n))[0] for n in range(15)] == [200] * 15
            status, headers = await _register(http, 15)
            assert status == 429 and 0 < int(headers["Retry-After"]) <= 3600
            async with http.post("/register", json={"email": "x@example.org"}) as response:
                assert "error" in await response.json()
            clock.advance(60 * 60)
            assert (await _register(http, 16))[0] == 200


async def test_otp_limit_counts_failures_only(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_devserver(tmp_path, rate_limits=True, clock=clock) as server:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(server.url, cookie_jar=jar) as http:

            async def verify(email: str, code: str) -> int:
                async with http.post("/otp", json={"email": email, "otp": code}) as response:
                    return response.status

            async def fresh_otp(email: str) -> str:
                await http.post("/register", json={"email": email})
                return await server.read_otp(email)

            otp = await fresh_otp("o1@example.org")
            wrong = "99999" if otp != "99999" else "88888"
            assert [await verify("o1@example.org", wrong) for _ in range(11)] == [400] * 11
            assert await verify("o1@example.org", otp) == 202  # a success does not count
            otp = await fresh_otp("o2@example.org")
            assert await verify("o2@example.org", wrong) == 400  # the 12th failure
            assert await verify("o2@example.org", otp) == 429  # blocked, even the right code
            clock.advance(15 * 60)
            otp = await fresh_otp("o3@example.org")
            assert await verify("o3@example.org", otp) == 202


async def test_api_signal_limit(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_devserver(tmp_path, rate_limits=True, clock=clock) as server:
        account = await create_account(server.url, server, clock=clock)
        async with SignedHttp(server.url, account, clock) as http:
            statuses = [(await http.get("/api/signal/pending-messages/v2"))[0] for _ in range(31)]
            assert statuses == [200] * 30 + [429]
            assert (await http.get("/client/auth/test"))[0] == 200  # other routes are unaffected
            clock.advance(60)
            assert (await http.get("/api/signal/pending-messages/v2"))[0] == 200


async def test_purge_days(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_devserver(tmp_path, purge_days=7, clock=clock) as server:
        alice = await create_account(server.url, server, clock=clock)
        bob = await create_account(server.url, server, clock=clock)
        body: dict[str, Any] = {
            "groupId": "0b6f3c1e-8a52-4c3e-9d0a-2f4b7e9c1a55", "recipientId": bob.user_id,
            "recipientDeviceId": bob.device_id, "encryptedDistribution": ciphertext(), "messageType": 3,
        }  # fmt: skip
        async with SignedHttp(server.url, alice, clock) as http:
            await http.post("/api/signal/distribute-sender-key", body)  # stored: bob is offline
            clock.advance(6 * DAY)
            await http.post("/api/signal/distribute-sender-key", body)
        messages = server.server.context.messages
        assert messages.count_items(bob.user_id, bob.device_id) == 2
        clock.advance(1 * DAY + 1)
        assert server.server.purge_now() == 1
        assert messages.count_items(bob.user_id, bob.device_id) == 1


async def test_no_purge_without_the_switch(server: RunningDevServer, clock: ManualClock) -> None:
    server.server.context.messages.add_item(
        item_id="old", sender="s", sender_device=1, recipient="r", recipient_device=1,
        item_type="message", payload="AAAA", cipher_type=2, original_recipient=None,
    )  # fmt: skip
    clock.advance(365 * DAY)
    assert server.server.purge_now() == 0
    assert server.server.context.messages.count_items("r", 1) == 1


def test_switches_map_to_the_config(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "devserver", "--host", "127.0.0.1", "--port", "0", "--data", str(tmp_path),
            "--otp-file", str(tmp_path / "otp"), "--smtp", "127.0.0.1:2525", "--name", "N",
            "--public-url", "https://x.example", "--admin-email", "A@x.example",
            "--admin-email", "b@x.example", "--registration-mode", "email_suffix",
            "--email-suffix", "x.example", "--invitation-token", "t", "--rate-limits",
            "--purge-days", "3", "--quirk-offline-skdm-500", "--quirk-prekey-random",
            "--quirk-no-session",
        ]
    )  # fmt: skip
    config = DevServerConfig.from_args(args)
    assert (config.host, config.port, config.data_dir) == ("127.0.0.1", 0, tmp_path)
    assert config.otp_file == tmp_path / "otp" and config.smtp == "127.0.0.1:2525"
    assert (config.name, config.public_url) == ("N", "https://x.example")
    assert config.admin_emails == ("a@x.example", "b@x.example")
    assert (config.registration_mode, config.email_suffixes, config.invitation_tokens) == (
        "email_suffix", ("x.example",), ("t",),
    )  # fmt: skip
    assert config.rate_limits and config.purge_days == 3
    assert config.quirk_offline_skdm_500 and config.quirk_prekey_random and config.quirk_no_session


def test_switch_defaults() -> None:
    config = DevServerConfig.from_args(build_parser().parse_args(["devserver"]))
    assert config == DevServerConfig(clock=config.clock)
    assert (config.host, config.port, config.name) == ("127.0.0.1", 3000, "PeerWave dev server")
    assert config.data_dir is None and config.otp_file is None and not config.rate_limits


@pytest.mark.parametrize("smtp", ["nohost", "host:", ":25", "host:99999", "host:port"])
def test_bad_smtp_values(smtp: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        DevServerConfig(smtp=smtp)

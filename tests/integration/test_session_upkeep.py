"""Keeping a session alive, on a server clock the test moves: an expired magic-key
session is renewed with its refresh token (both values stored before use, the old
token dead), the daily signed request keeps a session sliding so it never expires,
and the upkeep prunes the dedupe ledger."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from peerwave_tui.secrets import AccountSecrets
from tests.devserver_fixtures import ManualClock, running_devserver
from tests.integration.helpers import (
    EventLog,
    connected,
    contact,
    new_manager,
    received,
    register,
)

DAY = 24 * 3600.0


async def test_expired_magic_key_session_is_renewed(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_devserver(tmp_path / "srv", clock=clock) as server:
        laptop = new_manager(tmp_path / "laptop", clock=clock)
        phone = new_manager(tmp_path / "phone", clock=clock)
        log = EventLog(phone)
        try:
            alice = await register(laptop, server, "alice@example.org", "Alice")
            linked = await phone.link(await laptop.magic_key(alice.account_id))
            await log.wait_for(connected(linked.account_id))
            client = phone.client(linked.account_id)
            assert client.secrets is not None
            old_token = client.secrets.refresh_token
            old_secret = client.secrets.session_secret
            assert old_token  # magic-key sessions come with one

            clock.advance(31 * DAY)  # past the 30 days of a magic-key session
            people = await phone.people(linked.account_id)
            assert client.guard.refreshes == 1
            assert "Alice" not in {p.display_name for p in people}  # not ourselves
            stored = await client.store.run(AccountSecrets.load)
            assert stored.refresh_token == client.secrets.refresh_token != old_token
            assert stored.session_secret == client.secrets.session_secret != old_secret
            # The old refresh token is dead.
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    server.url + "/token/refresh",
                    json={"clientId": linked.client_id, "refreshToken": old_token},
                ) as response,
            ):
                assert response.status >= 400
            # Messaging still works on the renewed session.
            await phone.open_conversation(linked.account_id, contact(alice, "Alice"))
            await phone.send(linked.account_id, alice.user_id or "", "note to self, renewed")
            laptop_log = EventLog(laptop)
            try:
                await laptop_log.wait_for(received(alice.account_id, "note to self, renewed"))
            finally:
                await laptop_log.close()
        finally:
            await log.close()
            await laptop.aclose()
            await phone.aclose()


async def test_daily_upkeep_keeps_the_session_sliding_and_prunes(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_devserver(tmp_path / "srv", clock=clock) as server:
        laptop = new_manager(tmp_path / "laptop", clock=clock)
        phone = new_manager(tmp_path / "phone", clock=clock)
        bob_mgr = new_manager(tmp_path / "bob", clock=clock)
        log, bob_log = EventLog(phone), EventLog(bob_mgr)
        try:
            alice = await register(laptop, server, "alice@example.org", "Alice")
            bob = await register(bob_mgr, server, "bob@example.org", "Bob")
            linked = await phone.link(await laptop.magic_key(alice.account_id))
            await log.wait_for(connected(linked.account_id))
            await bob_log.wait_for(connected(bob.account_id))
            await bob_mgr.open_conversation(bob.account_id, contact(alice, "Alice"))
            await bob_mgr.send(bob.account_id, alice.user_id or "", "to be pruned")
            await log.wait_for(received(linked.account_id, "to be pruned"))
            client = phone.client(linked.account_id)

            def ledger(conn: object) -> int:
                return int(conn.execute("SELECT COUNT(*) FROM processed_items").fetchone()[0])  # type: ignore[attr-defined]

            assert await client.store.run(ledger) == 1

            clock.advance(10 * DAY)
            await client.upkeep()
            assert await client.store.run(ledger) == 1  # the server might still re-deliver
            clock.advance(15 * DAY)  # day 25, 5 days left of 30: the signed request slides it
            await client.upkeep()
            assert await client.store.run(ledger) == 0  # past any re-delivery: pruned
            clock.advance(10 * DAY)  # day 35: alive only because it slid
            await phone.people(linked.account_id)
            assert client.guard.refreshes == 0
        finally:
            for log_ in (log, bob_log):
                await log_.close()
            for m in (laptop, phone, bob_mgr):
                await m.aclose()

"""The manager's lifecycle fixes the UI asked for: ``start()`` twice starts nothing
twice, subscriptions end when the manager closes (or the subscriber says so), a wrong
passphrase at ``unlock`` raises, registration returns the backup codes still usable,
and state changes carry a machine-readable reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from peerwave_tui import events as ev
from peerwave_tui.errors import WrongPassphraseError
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import ConnectionState, KeyMode
from peerwave_tui.paths import Paths
from peerwave_tui.secrets import AccountSecrets
from peerwave_tui.storage.custody import KeyCustody
from tests.devserver_fixtures import running_devserver
from tests.integration.helpers import PASSPHRASE, EventLog, connected, new_manager, state_is


def _without_passphrase(home: Path) -> SignalClientManager:
    paths = Paths.from_home(home).ensure()
    return SignalClientManager(paths, KeyCustody(paths, mode=None, passphrase_source=None))


async def _registered(home: Path, server: object, email: str) -> None:
    """An account saved in ``home`` (passphrase mode), then closed."""
    manager = new_manager(home, KeyMode.PASSPHRASE)
    try:
        pending = await manager.register_start(server.url, email)  # type: ignore[attr-defined]
        otp = await server.read_otp(email)  # type: ignore[attr-defined]
        await manager.register_finish(pending, otp, email.split("@")[0].title())
    finally:
        await manager.aclose()


async def test_start_twice_opens_each_account_once(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        await _registered(tmp_path / "home", server, "alice@example.org")
        manager = new_manager(tmp_path / "home", KeyMode.PASSPHRASE)
        log = EventLog(manager)
        try:
            account_id = manager.accounts()[0].account_id
            await asyncio.gather(manager.start(), manager.start())  # the second while opening
            await log.wait_for(connected(account_id))
            await manager.start()  # and once it runs
            await manager.people(account_id)
            # A second opening of the store would have failed on its lock ("in use").
            assert not log.matching(state_is(account_id, ConnectionState.ERROR))
            assert manager.connection_state(account_id)[0] is ConnectionState.CONNECTED
        finally:
            await log.close()
            await manager.aclose()


async def test_subscriptions_end_when_the_manager_closes_or_the_subscriber_leaves(
    tmp_path: Path,
) -> None:
    manager = new_manager(tmp_path / "home")
    stream = manager.events()
    leaving = manager.events()
    seen: list[ev.Event] = []

    async def collect() -> None:
        async for event in stream:
            seen.append(event)

    async def wait_for_next() -> None:
        with pytest.raises(StopAsyncIteration):
            await leaving.__anext__()

    collecting = asyncio.create_task(collect())
    waiting = asyncio.create_task(wait_for_next())
    await asyncio.sleep(0)
    leaving.close()  # type: ignore[attr-defined]
    await asyncio.wait_for(waiting, 5)
    manager.publish(ev.AccountRemoved("some/account"))
    await manager.aclose()
    await asyncio.wait_for(collecting, 5)  # ended, after the event published before
    assert seen == [ev.AccountRemoved("some/account")]
    with pytest.raises(StopAsyncIteration):
        await manager.events().__anext__()  # a subscription after closing ends at once


async def test_unlock_with_a_wrong_passphrase_raises_and_a_right_one_opens(
    tmp_path: Path,
) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        await _registered(tmp_path / "home", server, "alice@example.org")
        manager = _without_passphrase(tmp_path / "home")
        log = EventLog(manager)
        try:
            account_id = manager.accounts()[0].account_id
            await manager.start()
            locked = await log.wait_for(state_is(account_id, ConnectionState.LOCKED))
            assert isinstance(locked, ev.ConnectionChanged)
            assert locked.reason == ev.REASON_PASSPHRASE_NEEDED
            with pytest.raises(WrongPassphraseError) as wrong:
                await manager.unlock("not the passphrase")
            assert "passphrase is wrong" in str(wrong.value)
            assert manager.connection_state(account_id)[0] is ConnectionState.LOCKED
            assert manager.connection_reason(account_id) == ev.REASON_PASSPHRASE_NEEDED
            await manager.unlock(PASSPHRASE)
            await log.wait_for(connected(account_id))
        finally:
            await log.close()
            await manager.aclose()


async def test_a_store_in_use_says_so(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        await _registered(tmp_path / "home", server, "alice@example.org")
        first = new_manager(tmp_path / "home", KeyMode.PASSPHRASE)
        second = new_manager(tmp_path / "home", KeyMode.PASSPHRASE)
        first_log, log = EventLog(first), EventLog(second)
        try:
            account_id = first.accounts()[0].account_id
            await first.start()
            await first_log.wait_for(connected(account_id))
            await second.start()
            refused = await log.wait_for(state_is(account_id, ConnectionState.ERROR))
            assert isinstance(refused, ev.ConnectionChanged)
            assert refused.reason == ev.REASON_STORE_IN_USE
            assert second.connection_reason(account_id) == ev.REASON_STORE_IN_USE
        finally:
            for each in (first_log, log):
                await each.close()
            await second.aclose()
            await first.aclose()


async def test_registration_returns_the_codes_still_usable(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        manager = new_manager(tmp_path / "home")
        other = new_manager(tmp_path / "other")
        try:
            pending = await manager.register_start(server.url, "alice@example.org")
            result = await manager.register_finish(
                pending, await server.read_otp("alice@example.org"), "Alice"
            )
            # Ten codes, one used by the registration's own first login.
            assert len(result.backup_codes) == 9
            client = manager.client(result.account.account_id)
            kept = await client.store.run(AccountSecrets.load)
            assert kept.backup_codes == result.backup_codes
            # Every code shown can log in (here the first one, on another device).
            record = await other.login(server.url, "alice@example.org", result.backup_codes[0])
            assert record.user_id == result.account.user_id
        finally:
            await manager.aclose()
            await other.aclose()

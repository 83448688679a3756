"""Accounts through the manager: a registration that survives a wrong OTP and a taken
display name, backup-code login on a fresh home and again on a known one, linking
with a server override, and removal (server side, local store, keyring entry)."""

from __future__ import annotations

import socket
from pathlib import Path

import keyring
import pytest

from peerwave_tui.errors import (
    LoginRejectedError,
    RegistrationIncompleteError,
    RemovedLocallyOnlyError,
    ServerUnreachableError,
)
from peerwave_tui.models import KeyMode
from peerwave_tui.saved_accounts import load_accounts
from peerwave_tui.signal import KeyManager
from peerwave_tui.storage.keyring_keys import SERVICE
from tests.devserver_fixtures import ReadyAccount, SignedHttp, running_devserver
from tests.integration.helpers import (
    EventLog,
    connected,
    contact,
    new_manager,
    received,
    register,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_registration_survives_a_wrong_otp_and_a_taken_name(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        first = new_manager(tmp_path / "first")
        second = new_manager(tmp_path / "second", KeyMode.PASSPHRASE)
        try:
            await register(first, server, "taken@example.org", "Taken Name")
            pending = await second.register_start(server.url, "new@example.org")
            otp = await server.read_otp("new@example.org")
            wrong = "00000" if otp != "00000" else "11111"
            with pytest.raises(LoginRejectedError):
                await second.register_finish(pending, wrong, "Taken Name")
            with pytest.raises(RegistrationIncompleteError) as refused:
                await second.register_finish(pending, otp, "Taken Name")
            codes = refused.value.backup_codes
            assert len(codes) == 10
            assert not any(code in str(refused.value) for code in codes)
            assert second.accounts() == []
            # The same registration, finished with another name: no step is repeated.
            result = await second.register_finish(pending, otp, "Fresh Name", "fresh")
            # The same ten codes, less the one the first login used.
            assert len(result.backup_codes) == 9 and set(result.backup_codes) < set(codes)
            assert result.account.display_name == "Fresh Name"
            saved = load_accounts(second.paths.servers_file)
            assert [a.email for a in saved] == ["new@example.org"]
            assert saved[0].server_name == "PeerWave dev server"
        finally:
            await first.aclose()
            await second.aclose()


async def test_abandoned_registration_leaves_no_store(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        manager = new_manager(tmp_path / "home", KeyMode.PASSPHRASE)
        await register(manager, server, "taken@example.org", "Taken")
        pending = await manager.register_start(server.url, "quitter@example.org")
        otp = await server.read_otp("quitter@example.org")
        with pytest.raises(RegistrationIncompleteError):
            await manager.register_finish(pending, otp, "Taken")
        servers_dir = manager.paths.servers_dir
        assert len(list(servers_dir.glob("*/*/store.db"))) == 2
        await manager.aclose()  # the user gave up
        assert len(list(servers_dir.glob("*/*/store.db"))) == 1


async def test_login_on_a_fresh_home_and_again_on_a_known_one(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        laptop = new_manager(tmp_path / "laptop")
        bob_mgr = new_manager(tmp_path / "bob")
        logs = {"laptop": EventLog(laptop), "bob": EventLog(bob_mgr)}
        desktop = new_manager(tmp_path / "desktop", KeyMode.PASSPHRASE)
        logs["desktop"] = EventLog(desktop)
        try:
            pending = await laptop.register_start(server.url, "alice@example.org")
            result = await laptop.register_finish(
                pending, await server.read_otp("alice@example.org"), "Alice"
            )
            codes = result.backup_codes
            alice = result.account
            bob = await register(bob_mgr, server, "bob@example.org", "Bob")

            with pytest.raises(LoginRejectedError):
                await desktop.login(server.url, "alice@example.org", "WRONGCODE0000000")
            assert desktop.accounts() == []
            assert not list(desktop.paths.servers_dir.glob("*/*"))

            # Every code shown is still usable (the one the registration used is not
            # among them), and each works once.
            record = await desktop.login(server.url, "alice@example.org", codes[1].lower())
            assert record.user_id == alice.user_id
            assert record.client_id != alice.client_id
            assert record.display_name == "Alice"
            await logs["desktop"].wait_for(connected(record.account_id))
            client = desktop.client(record.account_id)
            identity = await client.store.run(lambda c: KeyManager(c).identity_key())

            # Bob's message reaches both of Alice's devices.
            await logs["bob"].wait_for(connected(bob.account_id))
            await bob_mgr.open_conversation(bob.account_id, contact(alice, "Alice"))
            await bob_mgr.send(bob.account_id, alice.user_id or "", "to every alice")
            await logs["laptop"].wait_for(received(alice.account_id, "to every alice"))
            await logs["desktop"].wait_for(received(record.account_id, "to every alice"))

            with pytest.raises(LoginRejectedError):
                await bob_mgr.login(server.url, "alice@example.org", codes[1])
            # Logging in again on the same home reuses the account and its keys.
            again = await desktop.login(server.url, " Alice@Example.org ", codes[2])
            assert again.account_id == record.account_id
            assert [a.account_id for a in desktop.accounts()] == [record.account_id]
            await logs["desktop"].wait_for(connected(record.account_id), after=0)
            client = desktop.client(record.account_id)
            assert await client.store.run(lambda c: KeyManager(c).identity_key()) == identity
            history = await desktop.messages(record.account_id, bob.user_id or "")
            assert [m.text for m in history] == ["to every alice"]
        finally:
            for log in logs.values():
                await log.close()
            for m in (laptop, bob_mgr, desktop):
                await m.aclose()


async def test_link_with_a_server_override(tmp_path: Path) -> None:
    # Behind a proxy the key may name an address that does not work from here.
    wrong = f"http://127.0.0.1:{_free_port()}"
    async with running_devserver(tmp_path / "srv", public_url=wrong) as server:
        phone = new_manager(tmp_path / "phone")
        laptop = new_manager(tmp_path / "laptop")
        try:
            alice = await register(phone, server, "alice@example.org", "Alice")
            key = await phone.magic_key(alice.account_id)
            assert key.split("|")[0] == wrong
            with pytest.raises(ServerUnreachableError):
                await laptop.link(key)
            assert laptop.accounts() == []
            linked = await laptop.link(key, server.url)
            assert linked.server_url == server.url
            assert linked.user_id == alice.user_id
            assert linked.display_name == "Alice"
            # A magic key is single-use.
            with pytest.raises(LoginRejectedError):
                await new_manager(tmp_path / "third").link(key, server.url)
        finally:
            await phone.aclose()
            await laptop.aclose()


@pytest.mark.keyring
async def test_remove_account_everywhere(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice_mgr = new_manager(tmp_path / "alice", KeyMode.KEYRING)
        bob_mgr = new_manager(tmp_path / "bob")
        log = EventLog(alice_mgr)
        try:
            alice = await register(alice_mgr, server, "alice@example.org", "Alice")
            bob = await register(bob_mgr, server, "bob@example.org", "Bob")
            await log.wait_for(connected(alice.account_id))
            client = alice_mgr.client(alice.account_id)
            assert client.secrets is not None
            old = ReadyAccount(
                email="alice@example.org",
                display_name="Alice",
                user_id=alice.user_id or "",
                client_id=alice.client_id,
                session_secret=client.secrets.session_secret or "",
                device_id=alice.device_id or 0,
            )
            store_dir = alice_mgr.paths.store_dir(alice.server_key, alice.client_id)
            assert keyring.get_keyring().get_password(SERVICE, alice.account_id) is not None
            assert store_dir.is_dir()

            await alice_mgr.remove_account(alice.account_id)

            assert alice_mgr.accounts() == []
            assert load_accounts(alice_mgr.paths.servers_file) == []
            assert not store_dir.exists()
            assert not store_dir.parent.exists()
            assert keyring.get_keyring().get_password(SERVICE, alice.account_id) is None
            # Server side: the device is gone from bundles, its session is dead.
            bundle = await bob_mgr.client(bob.account_id).http(
                lambda: bob_mgr.client(bob.account_id).api.prekey_bundle(alice.user_id or "")
            )
            assert alice.client_id not in {d.client_id for d in bundle}
            async with SignedHttp(server.url, old) as http:
                status, _ = await http.get("/client/auth/test")
            assert status in (401, 500)
        finally:
            await log.close()
            await alice_mgr.aclose()
            await bob_mgr.aclose()


async def test_removing_while_the_server_is_down_removes_locally_and_says_so(
    tmp_path: Path,
) -> None:
    manager = new_manager(tmp_path / "alice")
    try:
        async with running_devserver(tmp_path / "srv") as server:
            alice = await register(manager, server, "alice@example.org", "Alice")
        # The server is gone: nothing can tell it to forget this device.
        store_dir = manager.paths.store_dir(alice.server_key, alice.client_id)
        assert store_dir.is_dir()
        with pytest.raises(RemovedLocallyOnlyError, match="still lists this device"):
            await manager.remove_account(alice.account_id)
        assert manager.accounts() == []
        assert load_accounts(manager.paths.servers_file) == []
        assert not store_dir.exists()
    finally:
        await manager.aclose()

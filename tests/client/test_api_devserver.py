"""ApiService against the real dev server (in process, 127.0.0.1): the account flow,
keys, bundles, users, channels, HTTP items, and error mapping with real answers."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from peerwave_tui.api import ApiService
from peerwave_tui.errors import (
    ApiError,
    AuthError,
    LoggedOutError,
    LoginRejectedError,
    RateLimitedError,
    ServerDefectError,
    ServerFailureError,
    SessionExpiredError,
)
from peerwave_tui.wire import Credentials, magic_key_server_url
from tests.client.devserver_accounts import ClientAccount, random_key, register_and_login
from tests.devserver_fixtures import ManualClock, RunningDevServer, running_devserver


@pytest.fixture
async def devserver(tmp_path: Path) -> AsyncIterator[RunningDevServer]:
    async with running_devserver(tmp_path) as server:
        yield server


@pytest.fixture
async def two_accounts(
    devserver: RunningDevServer,
) -> AsyncIterator[tuple[ClientAccount, ClientAccount]]:
    alice = await register_and_login(devserver.url, devserver, name="alice")
    bob = await register_and_login(devserver.url, devserver, name="bob")
    try:
        yield alice, bob
    finally:
        await alice.api.aclose()
        await bob.api.aclose()


async def test_meta(devserver: RunningDevServer) -> None:
    async with ApiService(devserver.url) as api:
        meta = await api.meta()
    assert meta.name == "PeerWave dev server" and meta.registration_mode == "open"
    assert meta.version


async def test_keys_and_bundles(two_accounts: tuple[ClientAccount, ClientAccount]) -> None:
    alice, bob = two_accounts
    status = await alice.api.key_status()
    assert status.identity_key is not None and len(status.identity_key) == 33
    assert status.signed_prekey is not None and status.prekeys_count == 20
    assert len(status.prekey_ids) == 20

    bundle = await bob.api.prekey_bundle(alice.user_id)
    by_client = {d.client_id: d for d in bundle}
    theirs = by_client[alice.credentials.client_id]
    assert (
        theirs.has_keys
        and theirs.user_id == alice.user_id
        and theirs.identity_key == status.identity_key
    )
    assert theirs.prekey is not None and theirs.prekey_id in status.prekey_ids
    assert theirs.registration_id is not None and theirs.signed_prekey_id == 1
    mine = by_client[bob.credentials.client_id]  # the caller's own device is included
    assert mine.user_id == bob.user_id
    assert (await alice.api.key_status()).prekeys_count == 19  # one was handed out

    # a device without keys shows up key-less, and wiping keys makes us key-less
    await alice.api.delete_keys()
    again = {d.client_id: d for d in await bob.api.prekey_bundle(alice.user_id)}
    assert not again[alice.credentials.client_id].has_keys


async def test_people_and_profiles(two_accounts: tuple[ClientAccount, ClientAccount]) -> None:
    alice, bob = two_accounts
    people = await alice.api.people()
    assert bob.user_id in {p.user_id for p in people}
    assert alice.user_id not in {p.user_id for p in people}
    profiles = await alice.api.profiles([alice.user_id, bob.user_id, alice.user_id])
    assert {p.user_id for p in profiles} == {alice.user_id, bob.user_id}
    assert all(p.display_name for p in profiles)
    assert await alice.api.profiles([]) == []


async def test_magic_key_link_refresh_and_revoke(
    devserver: RunningDevServer, two_accounts: tuple[ClientAccount, ClientAccount]
) -> None:
    alice, _bob = two_accounts
    key, expires_at = await alice.api.generate_magic_key()
    assert magic_key_server_url(key) == devserver.url and expires_at is not None
    new_client = str(uuid.uuid4())
    async with ApiService(magic_key_server_url(key)) as linked:
        login = await linked.verify_magic_key(key, new_client, "second device")
        assert login.user_id == alice.user_id and login.refresh_token
        with pytest.raises(LoginRejectedError):  # single use
            await linked.verify_magic_key(key, str(uuid.uuid4()))
        linked.set_credentials(Credentials(new_client, login.session_secret, login.user_id))
        await linked.auth_test(just_logged_in=True)

        refreshed = await linked.refresh_token(new_client, login.refresh_token)
        assert refreshed.session_secret != login.session_secret
        with pytest.raises(LoginRejectedError):  # the old token is dead
            await linked.refresh_token(new_client, login.refresh_token)
        with pytest.raises(LoggedOutError) as stale:  # so is the old secret
            await linked.auth_test()
        assert stale.value.code in ("invalid_signature", "no_session")
        linked.set_credentials(Credentials(new_client, refreshed.session_secret, login.user_id))
        await linked.session_refresh()
        await linked.revoke_session(new_client)
        with pytest.raises(LoggedOutError) as revoked:
            await linked.auth_test()
        assert revoked.value.code == "no_session" and "Log in again" in str(revoked.value)
    await alice.api.auth_test()  # the first device is unaffected


async def test_wrong_backup_code_and_wrong_secret(
    devserver: RunningDevServer, two_accounts: tuple[ClientAccount, ClientAccount]
) -> None:
    alice, _bob = two_accounts
    async with ApiService(devserver.url) as api:
        with pytest.raises(LoginRejectedError) as rejected:
            await api.login_backup_code(alice.email, "AAAAAAAAAAAAAAAA", str(uuid.uuid4()))
        assert rejected.value.status == 401 and "backup code" in str(rejected.value)
        with pytest.raises(LoginRejectedError):
            await api.verify_otp(alice.email, "00000", str(uuid.uuid4()))
        api.set_credentials(
            Credentials(alice.credentials.client_id, "not-the-secret", alice.user_id)
        )
        with pytest.raises(LoggedOutError) as bad:
            await api.people()
        assert bad.value.code == "invalid_signature"
        api.set_credentials(Credentials(str(uuid.uuid4()), "whatever", alice.user_id))
        with pytest.raises(LoggedOutError) as unknown:
            await api.people()
        assert unknown.value.code == "no_session"


async def test_items_over_http(two_accounts: tuple[ClientAccount, ClientAccount]) -> None:
    alice, bob = two_accounts
    page = await bob.api.pending_messages_http(limit=10, offset=0)
    assert page.items == () and not page.has_more
    # Nothing to delete is still a success on the PeerWave server.
    await bob.api.delete_item_http(str(uuid.uuid4()), bob.user_id, 1)


async def test_channels_and_group_http(two_accounts: tuple[ClientAccount, ClientAccount]) -> None:
    alice, bob = two_accounts
    channel = await alice.api.create_channel("general", "all of us", private=False)
    assert channel.is_signal and channel.owner == alice.user_id
    assert channel.channel_id in {c.channel_id for c in await alice.api.channels()}
    found = await bob.api.discover_channels(limit=50, offset=0)
    assert channel.channel_id in {c.channel_id for c in found.channels}
    with pytest.raises(ApiError) as outsider:
        await bob.api.channel_members(channel.channel_id)
    assert outsider.value.status == 403
    joined = await bob.api.join_channel(channel.channel_id)
    assert joined.channel_id == channel.channel_id
    with pytest.raises(ApiError) as twice:
        await bob.api.join_channel(channel.channel_id)
    assert twice.value.status == 400
    members = await bob.api.channel_members(channel.channel_id)
    assert {m.user_id for m in members} == {alice.user_id, bob.user_id}
    assert [m.is_owner for m in members if m.user_id == alice.user_id] == [True]
    devices = await alice.api.channel_member_devices(channel.channel_id)
    assert {d.user_id for d in devices} == {alice.user_id, bob.user_id}
    # bob is offline: the dev server stores the distribution as an item (intended behaviour)
    bob_device = next(d.device_id for d in devices if d.user_id == bob.user_id)
    delivered = await alice.api.distribute_sender_key(
        channel.channel_id, bob.user_id, bob_device, os.urandom(80), 3
    )
    assert delivered is False
    page = await bob.api.pending_messages_http(limit=10, offset=0)
    (skd_item,) = page.items
    assert skd_item.type == "signal:senderKeyDistribution"
    assert skd_item.item_id.startswith(f"senderkey-{channel.channel_id}-")
    assert await alice.api.group_items(channel.channel_id) == []
    await bob.api.leave_channel(channel.channel_id)
    assert channel.channel_id not in {c.channel_id for c in await bob.api.channels()}


async def test_no_session_defect_is_explained(tmp_path: Path) -> None:
    async with running_devserver(tmp_path, quirk_no_session=True) as server:
        with pytest.raises(ServerDefectError) as info:
            await register_and_login(server.url, server, with_keys=False)
    assert "ALTER TABLE client_sessions ADD COLUMN device_id INTEGER" in str(info.value)


async def test_expired_session_and_clock_skew(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_devserver(tmp_path, clock=clock) as server:
        account = await register_and_login(server.url, server, with_keys=False)
        try:
            clock.advance(10 * 60)  # the server's clock is now 10 minutes ahead
            with pytest.raises(AuthError) as skewed:
                await account.api.people()
            assert skewed.value.code == "request_expired" and "clock" in str(skewed.value)
            clock.advance(91 * 86400)  # and past the 90-day session
            async with ApiService(
                server.url, credentials=account.credentials, clock=clock
            ) as in_step:  # a client whose clock agrees with the server's
                with pytest.raises(SessionExpiredError) as expired:
                    await in_step.people()
            assert "expired" in str(expired.value)
        finally:
            await account.api.aclose()


async def test_rate_limit_with_retry_after(tmp_path: Path) -> None:
    async with running_devserver(tmp_path, rate_limits=True) as server:
        account = await register_and_login(server.url, server, with_keys=False)
        try:
            with pytest.raises(RateLimitedError) as limited:
                for _ in range(40):  # /api/signal allows 30 a minute
                    await account.api.pending_messages_http()
            assert limited.value.retry_after is not None and limited.value.retry_after > 0
            assert "Try again in" in str(limited.value)
        finally:
            await account.api.aclose()


async def test_concurrent_signed_requests_use_distinct_nonces(
    two_accounts: tuple[ClientAccount, ClientAccount],
) -> None:
    alice, _bob = two_accounts
    results = await asyncio.gather(*[alice.api.auth_test() for _ in range(20)])
    assert results == [None] * 20
    await alice.api.upload_signed_prekey(2, random_key(), os.urandom(64))


async def test_private_channel_members_and_forgetting_a_device(
    devserver: RunningDevServer, two_accounts: tuple[ClientAccount, ClientAccount]
) -> None:
    alice, bob = two_accounts
    secret_room = await alice.api.create_channel("private", "", private=True)
    assert secret_room.private
    with pytest.raises(ApiError) as refused:
        await bob.api.join_channel(secret_room.channel_id)
    assert refused.value.status == 403
    await alice.api.add_channel_member(secret_room.channel_id, bob.user_id)
    assert secret_room.channel_id in {c.channel_id for c in await bob.api.channels()}

    # a second device for alice, then "forget this device" from the first one
    second_client = str(uuid.uuid4())
    async with ApiService(devserver.url) as second:
        await second.login_backup_code(alice.email, alice.backup_codes[0], second_client)
    clients = {d.client_id for d in await bob.api.prekey_bundle(alice.user_id)}
    assert second_client in clients
    await alice.api.delete_client(second_client)
    clients = {d.client_id for d in await bob.api.prekey_bundle(alice.user_id)}
    assert second_client not in clients and alice.credentials.client_id in clients


async def test_offline_sender_key_distribution_500_quirk(tmp_path: Path) -> None:
    async with running_devserver(tmp_path, quirk_offline_skdm_500=True) as server:
        alice = await register_and_login(server.url, server, name="alice")
        bob = await register_and_login(server.url, server, name="bob")
        try:
            channel = await alice.api.create_channel("g", "", private=False)
            await bob.api.join_channel(channel.channel_id)
            devices = await alice.api.channel_member_devices(channel.channel_id)
            bob_device = next(d.device_id for d in devices if d.user_id == bob.user_id)
            with pytest.raises(ServerFailureError) as failed:  # "not delivered yet"
                await alice.api.distribute_sender_key(
                    channel.channel_id, bob.user_id, bob_device, os.urandom(64), 3
                )
            assert failed.value.status == 500
        finally:
            await alice.api.aclose()
            await bob.api.aclose()

"""Retried distributions cost nothing they should not: a device the PeerWave server
refuses (500, offline) gets the SAME sealed distribution on every retry, so our 1:1
chain with it does not move once per group message (after 2000 steps it could read
nothing from us); a member's device without keys does not make every group message
fetch that member's bundle again (each fetch burns one-time prekeys on the PeerWave
server, and requests under its rate limit). And a member device reinstalled at the
same device id (a new identity key) gets our key again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peerwave_tui.groups.tables import GroupTables
from peerwave_tui.models import KeyMode, MessageStatus
from peerwave_tui.signal import TrustEvent, TrustEventKind
from tests.devserver.clients import SignedHttp
from tests.devserver_fixtures import create_account, running_devserver
from tests.groups.helpers import Member, close_all, register_member, reopen, until


def _spy(member: Member, name: str) -> list[tuple[Any, ...]]:
    """Record the calls of one ApiService method (the real one still runs)."""
    api = member.client.api
    real = getattr(api, name)
    calls: list[tuple[Any, ...]] = []

    async def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return await real(*args, **kwargs)

    setattr(api, name, spy)
    return calls


async def test_an_offline_device_gets_the_same_sealed_distribution_each_time(
    tmp_path: Path,
) -> None:
    async with running_devserver(tmp_path / "srv", quirk_offline_skdm_500=True) as server:
        alice = bob = carol = None
        try:
            alice = await register_member(tmp_path / "alice", server, "Alice")
            bob = await register_member(tmp_path / "bob", server, "Bob")
            carol = await register_member(tmp_path / "carol", server, "Carol", KeyMode.PASSPHRASE)
            channel = await alice.manager.create_channel(alice.account_id, "desk")
            for member in (bob, carol):
                await member.manager.join_channel(member.account_id, channel.channel_id)
            carol_user = carol.user_id
            await carol.close()
            carol = None
            posted = _spy(alice, "distribute_sender_key")

            texts = [f"note {n}" for n in range(3)]
            for text in texts:
                sent = await alice.manager.send(alice.account_id, channel.channel_id, text)
                await alice.wait_status(sent.item_id, MessageStatus.STORED)
            await bob.wait_text(texts[-1])
            # (channel, user, device, ciphertext, messageType) per request
            to_carol = [call for call in posted if call[1] == carol_user]
            assert len(to_carol) == len(texts)  # refused (500) before each message
            assert len({call[3] for call in to_carol}) == 1

            carol = await reopen(tmp_path / "carol", "Carol")
            for text in texts:
                await carol.wait_text(text)
            assert await carol.texts(channel.channel_id) == texts
        finally:
            await close_all(alice, bob, carol)


async def test_a_member_device_without_keys_is_not_fetched_for_every_message(
    tmp_path: Path,
) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice = bob = None
        try:
            alice = await register_member(tmp_path / "alice", server, "Alice")
            bob = await register_member(tmp_path / "bob", server, "Bob")
            # Dave logged in without ever publishing keys (a browser, say).
            dave = await create_account(server.url, server, display_name="Dave")
            channel = await alice.manager.create_channel(alice.account_id, "mixed")
            await bob.manager.join_channel(bob.account_id, channel.channel_id)
            async with SignedHttp(server.url, dave) as http:
                status, _ = await http.post(f"/client/channels/{channel.channel_id}/join")
                assert status == 200
            fetched = _spy(alice, "prekey_bundle")

            texts = [f"line {n}" for n in range(3)]
            for text in texts:
                sent = await alice.manager.send(alice.account_id, channel.channel_id, text)
                await alice.wait_status(sent.item_id, MessageStatus.STORED)
                await bob.wait_text(text)
            assert [call[0] for call in fetched].count(dave.user_id) == 1
            # Once Dave is seen online, his bundle is worth asking for again.
            alice.client.groups.sender.member_online(dave.user_id)
            sent = await alice.manager.send(alice.account_id, channel.channel_id, "again")
            await alice.wait_status(sent.item_id, MessageStatus.STORED)
            assert [call[0] for call in fetched].count(dave.user_id) == 2
        finally:
            await close_all(alice, bob)


async def test_a_reinstalled_member_device_gets_our_key_again(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice = bob = None
        try:
            alice = await register_member(tmp_path / "alice", server, "Alice")
            bob = await register_member(tmp_path / "bob", server, "Bob")
            channel = await alice.manager.create_channel(alice.account_id, "kept")
            await bob.manager.join_channel(bob.account_id, channel.channel_id)
            await alice.manager.send(alice.account_id, channel.channel_id, "first")
            await bob.wait_text("first")
            assert bob.account.device_id is not None
            bob_device = (bob.user_id, bob.account.device_id)
            posted = _spy(alice, "distribute_sender_key")

            async def has_key() -> bool:
                found = await alice.client.store.run(
                    lambda c: GroupTables(c).devices(channel.channel_id)
                )
                return found.get(bob_device) is True

            assert await has_key()
            # Alice's client learns (from a bundle or a message) that Bob's device has a
            # new identity key: a new install, without Alice's sender key.
            changed = TrustEvent(TrustEventKind.IDENTITY_CHANGED, *bob_device)
            await alice.client.groups.on_trust_events([changed])
            await until(lambda: any(c[1] == bob.user_id for c in posted), "a new distribution")
            await until(has_key, "Bob's device marked as holding our key again")
            await alice.manager.send(alice.account_id, channel.channel_id, "second")
            await bob.wait_text("second")
        finally:
            await close_all(alice, bob)

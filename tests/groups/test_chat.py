"""Three users (one on two devices) talk in a channel, against the dev server both
with and without the PeerWave server's "500 for an offline device" quirk."""

from __future__ import annotations

from pathlib import Path

import pytest

from peerwave_tui.models import Direction, MessageStatus
from tests.devserver_fixtures import running_devserver
from tests.groups.helpers import close_all, link_device, register_member


@pytest.mark.parametrize("quirk", [False, True], ids=["stored-skdm", "offline-skdm-500"])
async def test_three_members_two_devices(tmp_path: Path, quirk: bool) -> None:
    async with running_devserver(tmp_path / "srv", quirk_offline_skdm_500=quirk) as server:
        alice = bob = carol = alice2 = None
        try:
            alice = await register_member(tmp_path / "alice", server, "Alice")
            bob = await register_member(tmp_path / "bob", server, "Bob")
            carol = await register_member(tmp_path / "carol", server, "Carol")
            alice2 = await link_device(tmp_path / "alice2", alice, "Alice phone")

            channel = await alice.manager.create_channel(alice.account_id, "lounge", "chat")
            assert channel.member_count == 1
            for member in (bob, carol):
                joined = await member.manager.join_channel(member.account_id, channel.channel_id)
                assert joined.name == "lounge"

            sent = await alice.manager.send(alice.account_id, channel.channel_id, "hello all")
            for member in (bob, carol):
                got = await member.wait_text("hello all")
                assert got.conversation_id == channel.channel_id
                assert got.sender_id == alice.user_id
                assert got.direction is Direction.IN
            mine = await alice2.wait_text("hello all")
            assert mine.direction is Direction.OUT
            await alice.wait_status(sent.item_id, MessageStatus.STORED)

            reply = await bob.manager.send(bob.account_id, channel.channel_id, "hi alice")
            for member in (alice, alice2, carol):
                got = await member.wait_text("hi alice")
                assert got.sender_id == bob.user_id
            await bob.wait_status(reply.item_id, MessageStatus.STORED)

            convs = await carol.manager.conversations(carol.account_id)
            conv = next(c for c in convs if c.conversation_id == channel.channel_id)
            assert conv.title == "lounge"
            assert conv.unread == 2
            assert conv.member_count == 3

            # Reading: Bob and Carol read Alice's message; Alice sees it read by both.
            await bob.manager.mark_read(bob.account_id, channel.channel_id)
            partly = await alice.log.wait_for(
                lambda e: (
                    getattr(e, "item_id", None) == sent.item_id
                    and getattr(e, "detail", None) == "read by at least 1 of 2"
                )
            )
            assert partly is not None
            await carol.manager.mark_read(carol.account_id, channel.channel_id)
            await alice.wait_status(sent.item_id, MessageStatus.READ)
        finally:
            await close_all(alice, bob, carol, alice2)

"""Refusals: sending to a channel we are no longer in (the member-device list says
so, or the server refuses the item with ``groupItemError``), and the distribution
pacer (at most 25 a minute, nothing while a 429 says to wait)."""

from __future__ import annotations

from pathlib import Path

from peerwave_tui.groups.sender import NOT_MEMBER, DistributionPacer
from peerwave_tui.models import MessageStatus
from tests.devserver_fixtures import running_devserver
from tests.groups.helpers import close_all, register_member


async def test_sending_after_being_removed_fails_clearly(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice = carol = None
        try:
            alice = await register_member(tmp_path / "alice", server, "Alice")
            carol = await register_member(tmp_path / "carol", server, "Carol")
            channel = await alice.manager.create_channel(alice.account_id, "room")
            await carol.manager.join_channel(carol.account_id, channel.channel_id)
            hello = await carol.manager.send(carol.account_id, channel.channel_id, "hello")
            await alice.wait_text("hello")
            await carol.wait_status(hello.item_id, MessageStatus.STORED)

            # Carol is out on the server, behind her client's back (another device).
            await carol.client.api.leave_channel(channel.channel_id)
            late = await carol.manager.send(carol.account_id, channel.channel_id, "late")
            failed = await carol.wait_status(late.item_id, MessageStatus.FAILED)
            assert failed.detail == NOT_MEMBER
            convs = await carol.manager.conversations(carol.account_id)
            assert any(c.title == "room (left)" for c in convs)
            assert "late" not in await alice.texts(channel.channel_id)
        finally:
            await close_all(alice, carol)


async def test_a_refused_group_item_fails_and_membership_is_read_again(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice = carol = None
        try:
            alice = await register_member(tmp_path / "alice", server, "Alice")
            carol = await register_member(tmp_path / "carol", server, "Carol")
            channel = await alice.manager.create_channel(alice.account_id, "room")
            await carol.manager.join_channel(carol.account_id, channel.channel_id)
            first = await carol.manager.send(carol.account_id, channel.channel_id, "first")
            await carol.wait_status(first.item_id, MessageStatus.STORED)
            await carol.client.api.leave_channel(channel.channel_id)

            # A client that does not check membership before sending (as if the
            # member list were read just before the leave): the server refuses the
            # item with a groupItemError that names no item.
            async def member_anyway(channel_id: str) -> bool:
                return True

            carol.client.groups.sender._prepare = member_anyway  # type: ignore[method-assign]
            refused = await carol.manager.send(carol.account_id, channel.channel_id, "refused")
            failed = await carol.wait_status(refused.item_id, MessageStatus.FAILED)
            assert failed.detail is not None and "Not a member" in failed.detail
            # ... and the channel list is read again: Carol is out.
            await carol.log.wait_for(
                lambda e: getattr(getattr(e, "conversation", None), "title", "") == "room (left)"
            )
        finally:
            await close_all(alice, carol)


def test_the_pacer_allows_25_a_minute_and_honours_retry_after() -> None:
    now = [1000.0]
    pacer = DistributionPacer(25, clock=lambda: now[0])
    assert sum(pacer.take() for _ in range(40)) == 25
    assert 2.3 < pacer.wait_time() <= 2.4  # one more token every 2.4 s
    now[0] += 2.5
    assert pacer.take() and not pacer.take()
    now[0] += 60
    pacer.pause(30)
    assert not pacer.take()
    assert 29.9 < pacer.wait_time() <= 30
    now[0] += 30
    assert sum(pacer.take() for _ in range(40)) == 25

"""Channels in the app (Pilot, the real manager, a real dev server): create one from
the command palette and write there, join another from the palette's list, read and
answer; member counts in the conversation list, "#" names in the quick switcher."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.command import CommandPalette

from peerwave_tui.models import MessageStatus
from peerwave_tui.settings import Settings
from peerwave_tui.ui.screens.channel_dialogs import CreateChannelDialog, JoinChannelScreen
from peerwave_tui.ui.screens.confirm import ConfirmDialog
from peerwave_tui.ui.screens.quick_switcher import QuickSwitcher
from tests.devserver_fixtures import running_devserver
from tests.groups.helpers import close_all, register_member
from tests.ui.conftest import feed_terminal, screen_text, started, until
from tests.ui.real import app_over, has_text, real_manager, register

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield


async def _palette(app, pilot, command: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
    await pilot.press(*command)
    await until(
        pilot,
        lambda: command in str(app.screen.query_one("CommandList").get_option_at_index(0).prompt),
        f"{command!r} offered",
    )
    await pilot.press("enter")


async def test_create_join_and_chat_in_channels(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        bob = None
        manager = real_manager(tmp_path / "me")
        me, _codes = await register(manager, server, "me@example.org", "Me")
        try:
            bob = await register_member(tmp_path / "bob", server, "Bob")
            bobs = await bob.manager.create_channel(bob.account_id, "bobs room", "Bob's")
            app = app_over(manager, Settings())
            async with app.run_test(size=SIZE) as pilot:
                await started(app, pilot)
                account_id = me.account_id

                # Create a channel from the palette: it opens, and what is written
                # there reaches a member.
                await _palette(app, pilot, "Create channel")
                dialog = await until(
                    pilot, lambda: isinstance(app.screen, CreateChannelDialog) and app.screen
                )
                await pilot.press(*"my room")
                await pilot.press("enter")
                pane = app.main.active_pane
                await until(
                    pilot,
                    lambda: pane.conversation is not None and pane.conversation.title == "my room",
                    "the new channel opens",
                )
                assert app.screen is not dialog
                mine = pane.conversation.conversation_id
                await bob.manager.join_channel(bob.account_id, mine)
                await until(pilot, lambda: app.focused is pane.composer, "composer focused")
                await feed_terminal(app, pilot, "hello room")
                await pilot.press("enter")
                await bob.wait_text("hello room")
                sent = next(m for m in pane.message_view.messages if m.text == "hello room")
                await until(pilot, lambda: sent.status is MessageStatus.STORED, "✓")

                # Join Bob's channel from the palette's list; Bob's message arrives there.
                await _palette(app, pilot, "Join channel")
                chooser = await until(
                    pilot, lambda: isinstance(app.screen, JoinChannelScreen) and app.screen
                )
                results = chooser.query_one("#channel-results")
                await until(pilot, lambda: results.option_count == 1, "Bob's room listed")
                # only Bob's room: ours is not offered
                assert "bobs room" in str(results.get_option_at_index(0).prompt)
                await pilot.press("enter")
                await until(
                    pilot,
                    lambda: (
                        app.screen is not chooser
                        and pane.conversation is not None
                        and pane.conversation.conversation_id == bobs.channel_id
                    ),
                    "Bob's room opens",
                )
                await bob.manager.send(bob.account_id, bobs.channel_id, "welcome in")
                await until(pilot, has_text(app, "welcome in"), "Bob's message shown")
                await feed_terminal(app, pilot, "thanks bob")
                await pilot.press("enter")
                await bob.wait_text("thanks bob")

                # Member counts in the list; channels as "#name" in the quick switcher.
                await until(
                    pilot, lambda: "bobs room (2)" in screen_text(app), "member count shown"
                )
                await pilot.press("ctrl+k")
                switcher = await until(
                    pilot, lambda: isinstance(app.screen, QuickSwitcher) and app.screen
                )
                assert "#my room" in screen_text(app) and "#bobs room" in screen_text(app)
                await pilot.press("escape")
                await until(pilot, lambda: app.screen is not switcher)

                # Leave Bob's room: it stays as history, titled "(left)".
                await _palette(app, pilot, "Leave channel")
                confirm = await until(
                    pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen
                )
                await pilot.click(confirm.query_one("#confirm"))
                await until(
                    pilot, lambda: "bobs room (left)" in screen_text(app), "left, as history"
                )
                members = await bob.manager.channel_members(bob.account_id, bobs.channel_id)
                assert [m.display_name for m in members] == ["Bob"]
                assert account_id in app.main.tabs
        finally:
            await close_all(bob)
            await manager.aclose()

"""Channels in the app: the command palette's channel commands (create, join, leave)
and their flows. A channel is a conversation of kind GROUP, so listing, opening,
reading and writing work as for any conversation; only these three are new.

The flows run in workers of the main screen (``MainScreen.spawn``), may wait for a
dialog's answer, and show failures as toasts (``MainScreen.guarded``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING

from peerwave_tui.models import ConversationKind
from peerwave_tui.ui.commands import Command, _CommandList
from peerwave_tui.ui.format import one_line
from peerwave_tui.ui.screens.channel_dialogs import CreateChannelDialog, JoinChannelScreen
from peerwave_tui.ui.screens.confirm import ConfirmDialog

if TYPE_CHECKING:
    from peerwave_tui.ui.screens.main import MainScreen


class ChannelCommands(_CommandList):
    """Create or join a channel on the open server; leave the open channel."""

    def commands(self) -> Iterable[Command]:
        main = self.peerwave.main
        tab = main.active_tab
        if tab is None:
            return
        server = one_line(tab.name, 30)
        account_id = tab.account_id
        yield (
            f"Create channel on {server}",
            "A new group chat; you are its owner",
            partial(_run, main, create_channel, account_id),
        )
        yield (
            f"Join channel on {server}",
            "Pick one of the server's public channels",
            partial(_run, main, join_channel, account_id),
        )
        pane = main.active_pane
        conversation = pane.conversation if pane is not None else None
        if (
            conversation is not None
            and conversation.kind is ConversationKind.GROUP
            and conversation.member_count is not None
        ):
            yield (
                f"Leave channel {one_line(conversation.title, 30)}",
                "Its messages stay here; new ones do not come",
                partial(_run, main, leave_channel, account_id, conversation.conversation_id),
            )


def _run(screen: MainScreen, flow: Callable[..., Awaitable[None]], *args: str) -> None:
    """Start a flow in a worker (its coroutine made only now: the palette lists
    commands far more often than it runs one)."""
    screen.spawn(flow(screen, *args), "channels", exclusive=True)


async def _show(screen: MainScreen, account_id: str, channel_id: str) -> None:
    """Bring the channel into the tab's list (its update event may come later) and
    open it."""
    conversations = await screen.guarded(screen.manager.conversations(account_id), "Channels")
    tab = screen.tabs.get(account_id)
    if conversations is None or tab is None:
        return
    for conversation in conversations:
        if conversation.conversation_id == channel_id:
            tab.conversations[channel_id] = conversation
    screen.refresh_tab(account_id)
    screen.open_conversation(account_id, channel_id)


async def create_channel(screen: MainScreen, account_id: str) -> None:
    tab = screen.tabs.get(account_id)
    if tab is None:
        return
    wanted = await screen.app.push_screen_wait(CreateChannelDialog(tab.name))
    if wanted is None:
        return
    channel = await screen.guarded(
        screen.manager.create_channel(account_id, wanted.name, wanted.description, wanted.private),
        "Create channel",
    )
    if channel is not None:
        screen.notify(f"Channel {one_line(channel.name, 40)} created.", timeout=4)
        await _show(screen, account_id, channel.channel_id)


async def join_channel(screen: MainScreen, account_id: str) -> None:
    tab = screen.tabs.get(account_id)
    if tab is None:
        return
    chooser = JoinChannelScreen(lambda: screen.manager.discover_channels(account_id), tab.name)
    choice = await screen.app.push_screen_wait(chooser)
    if choice is None:
        return
    channel = await screen.guarded(
        screen.manager.join_channel(account_id, choice.channel_id), "Join channel"
    )
    if channel is not None:
        screen.notify(f"You joined {one_line(channel.name, 40)}.", timeout=4)
        await _show(screen, account_id, channel.channel_id)


async def leave_channel(screen: MainScreen, account_id: str, channel_id: str) -> None:
    title = screen.title_of(account_id, channel_id)
    confirmed = await screen.app.push_screen_wait(
        ConfirmDialog(
            f"Leave {one_line(title, 40)}?",
            "Its messages stay on this device; new ones no longer come, and you can no "
            "longer write there. You can join a public channel again later.",
            confirm="Leave",
        )
    )
    if not confirmed:
        return
    done = await screen.guarded(_left(screen, account_id, channel_id), "Leave channel")
    if done:
        screen.notify(f"You left {one_line(title, 40)}.", timeout=4)
        await _show(screen, account_id, channel_id)


async def _left(screen: MainScreen, account_id: str, channel_id: str) -> bool:
    await screen.manager.leave_channel(account_id, channel_id)
    return True


__all__ = ["ChannelCommands", "create_channel", "join_channel", "leave_channel"]

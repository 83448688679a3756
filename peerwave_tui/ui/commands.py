"""Command palette (Ctrl+P) providers, one per domain: servers, conversations, themes,
and app actions. Commands call the app and its main screen; never the manager."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content
from textual.markup import escape

from peerwave_tui.models import ConnectionState
from peerwave_tui.ui.format import one_line
from peerwave_tui.ui.state import conversation_key

if TYPE_CHECKING:
    from peerwave_tui.ui.app import PeerwaveApp

Command = tuple[str, str, Callable[[], object]]  # text, help, what to do


class _CommandList(Provider):
    """A provider over a list of commands: all shown on discovery, fuzzy-matched on search."""

    @property
    def peerwave(self) -> PeerwaveApp:
        return cast("PeerwaveApp", self.app)

    def commands(self) -> Iterable[Command]:
        raise NotImplementedError

    # Command texts carry names chosen by peers and servers: they are shown as plain
    # text, never parsed as markup (a name like "x[/]" must not break the palette).
    async def discover(self) -> Hits:
        for text, help_text, run in self.commands():
            yield DiscoveryHit(Content(text), run, text=text, help=escape(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, run in self.commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, _highlight(matcher, text), run, text=text, help=escape(help_text))


def _highlight(matcher: Matcher, text: str) -> Content:
    """``Matcher.highlight`` without reading ``text`` as markup."""
    content = Content(text)
    _score, offsets = matcher.fuzzy_search.match(matcher.query, text)
    for offset in offsets:
        if not text[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class ServerCommands(_CommandList):
    def commands(self) -> Iterable[Command]:
        app = self.peerwave
        main = app.main
        yield (
            "Add server",
            "Register, log in or link this device on a server",
            app.action_add_server,
        )
        tabs = main.tab_order()
        if any(tab.state is ConnectionState.LOCKED for tab in tabs):
            yield ("Unlock", "Enter the passphrase of locked stores", app.action_unlock)
        yield ("Keyring help", "What to do when no OS keyring is usable", app.action_keyring_help)
        for tab in tabs:
            name = one_line(tab.name, 30)
            account_id = tab.account_id
            yield (
                f"Generate magic key: {name}",
                "Link another device to this account",
                partial(main.generate_magic_key, account_id),
            )
            muted = account_id in app.settings.muted_servers
            yield (
                f"{'Unmute' if muted else 'Mute'} server: {name}",
                "Notifications for every conversation on this server",
                partial(main.toggle_mute_server, account_id),
            )
            yield (
                f"Remove server: {name}",
                "Remove this account from this device",
                partial(main.remove_server, account_id),
            )


class ConversationCommands(_CommandList):
    def commands(self) -> Iterable[Command]:
        main = self.peerwave.main
        yield (
            "New conversation",
            "Pick someone from the server's people list",
            main.new_conversation,
        )
        pane = main.active_pane
        if pane is not None and pane.conversation_id is not None:
            key = conversation_key(pane.account_id, pane.conversation_id)
            muted = key in self.peerwave.settings.muted_conversations
            yield (
                "Verify contact",
                "Compare safety numbers and mark the contact verified",
                main.show_safety_number,
            )
            yield (
                f"{'Unmute' if muted else 'Mute'} conversation",
                "Notifications for the open conversation",
                main.toggle_mute_conversation,
            )
            yield (
                "Retry failed messages",
                "Send the failed messages here again",
                main.retry_failed,
            )
        for tab in main.tab_order():
            for conv in tab.sorted_conversations():
                yield (
                    f"Open: {one_line(conv.title, 40)} ({one_line(tab.name, 24)})",
                    "Go to this conversation",
                    partial(main.open_conversation, tab.account_id, conv.conversation_id),
                )


class ThemeCommands(_CommandList):
    def commands(self) -> Iterable[Command]:
        app = self.peerwave
        for name in sorted(app.available_themes, key=lambda n: (not n.startswith("peerwave"), n)):
            current = " (current)" if name == app.theme else ""
            yield (
                f"Theme: {name}{current}",
                "Switch theme (remembered)",
                partial(setattr, app, "theme", name),
            )


class ActionCommands(_CommandList):
    def commands(self) -> Iterable[Command]:
        app = self.peerwave
        notes = app.settings.notifications
        yield (
            f"Turn notifications {'off' if notes.enabled else 'on'}",
            "Bell and desktop notifications for new messages",
            app.toggle_notifications,
        )
        yield (
            f"{'Hide' if notes.show_text else 'Show'} message text in notifications",
            "Whether desktop notifications include what was written",
            app.toggle_notification_text,
        )
        yield ("Help", "Every key and how to remap it", app.action_help)
        yield ("Quit", "Close every connection and leave", app.action_quit)

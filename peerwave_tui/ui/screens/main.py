"""The main screen: one tab per server, and everything done with conversations.

It owns the UI state (``TabState`` per account), shows it through the tabs and panes,
and acts on what the widgets ask for by calling the manager in workers. Core events
arrive from the bridge and are handled in ``main_events.CoreEventsMixin``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from functools import partial
from typing import TypeVar

from textual import on
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent

from peerwave_tui.errors import PeerwaveError, UntrustedIdentityError
from peerwave_tui.manager_api import ManagerAPI
from peerwave_tui.models import AccountRecord, Conversation, ConversationKind, utc_now
from peerwave_tui.settings import Settings
from peerwave_tui.ui import flows
from peerwave_tui.ui.notify import Notifier
from peerwave_tui.ui.screens.main_events import CoreEventsMixin
from peerwave_tui.ui.startup import OpenConversation
from peerwave_tui.ui.state import TabState, conversation_key, next_unread
from peerwave_tui.ui.widgets.composer import Composer
from peerwave_tui.ui.widgets.server_pane import ServerPane
from peerwave_tui.ui.widgets.server_tabs import ServerTabs

log = logging.getLogger(__name__)
T = TypeVar("T")

PAGE_SIZE = 50
TAB_REFRESH_INTERVAL = 0.2  # seconds between two redraws of a tab for core events

NO_SERVERS = (
    "No servers yet.\n\nPress Ctrl+P and choose “Add server” to register, log in, "
    "or link this device to an account."
)


class MainScreen(CoreEventsMixin, Screen[None]):
    def __init__(
        self,
        manager: ManagerAPI,
        settings: Settings,
        notifier: Notifier,
        *,
        save_settings: Callable[[], None],
        today: Callable[[], date] = date.today,
        now: Callable[[], datetime] = utc_now,
        note: str | None = None,
    ) -> None:
        super().__init__(id="main")
        self.manager = manager
        self.settings = settings
        self.notifier = notifier
        self._save_settings = save_settings
        self._today = today
        self._now = now
        self.tabs: dict[str, TabState] = {}
        self._reading: set[tuple[str, str]] = set()  # mark_read calls in flight
        self._note = note
        self._progress: str | None = None  # a startup (the demo) is under way
        self._progress_error = False
        self.mounted = asyncio.Event()  # tabs can be added once the screen is mounted
        self.painted = asyncio.Event()  # its first frame is on the terminal
        # Used for every core event: kept, not looked up in the DOM each time.
        self._server_tabs = ServerTabs(id="server-tabs")
        self._unlisted: set[str] = set()  # tabs shown before their conversations were asked
        self._refreshed_at: dict[str, float] = {}  # account -> when its tab was last drawn
        self._refresh_due: set[str] = set()  # accounts with a refresh_tab_soon pending

    def compose(self) -> ComposeResult:
        yield self._server_tabs
        yield Static(NO_SERVERS, id="no-servers", markup=False)
        yield Static("", id="startup-progress", markup=False)
        if self._note:
            yield Static(self._note, id="session-note", markup=False)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self._show_empty_state()
        self.mounted.set()
        # Runs once the first frame has been drawn: heavy start-up work waits for it.
        self.call_after_refresh(self.painted.set)

    # --- small helpers --------------------------------------------------------------

    @property
    def server_tabs(self) -> ServerTabs:
        return self._server_tabs

    def tab_order(self) -> list[TabState]:
        return [self.tabs[account_id] for account_id in self.server_tabs.account_ids()]

    @property
    def active_tab(self) -> TabState | None:
        account_id = self.server_tabs.active_account_id
        return self.tabs.get(account_id) if account_id else None

    @property
    def active_pane(self) -> ServerPane | None:
        account_id = self.server_tabs.active_account_id
        return self.server_tabs.pane_for(account_id) if account_id else None

    def pane_showing(self, account_id: str, conversation_id: str) -> ServerPane | None:
        pane = self.server_tabs.pane_for(account_id)
        if pane is not None and pane.conversation_id == conversation_id:
            return pane
        return None

    def is_viewing(self, account_id: str, conversation_id: str) -> bool:
        """Is the user looking at this conversation right now?"""
        if self.app.screen is not self or not self.app.app_focus:
            return False
        pane = self.active_pane
        return (
            pane is not None
            and pane.account_id == account_id
            and pane.conversation_id == conversation_id
        )

    def is_muted(self, account_id: str, conversation_id: str) -> bool:
        return self.notifier.is_muted(account_id, conversation_id)

    def spawn(self, work: Awaitable[object], group: str, *, exclusive: bool = False) -> None:
        self.run_worker(work, group=group, exclusive=exclusive, exit_on_error=False)

    async def guarded(self, call: Awaitable[T], what: str) -> T | None:
        """Await a manager call; show its failure as a toast (never raise)."""
        try:
            return await call
        except PeerwaveError as exc:
            self.notify(str(exc), title=what, severity="error", timeout=8)
        except Exception as exc:  # noqa: BLE001 - a failure shows; the app keeps running
            log.error("%s failed unexpectedly: %s", what, type(exc).__name__, exc_info=exc)
            self.notify(
                "Something unexpected went wrong; details are in the log.",
                title=what,
                severity="error",
                timeout=8,
            )
        return None

    # --- tabs -----------------------------------------------------------------------

    async def load_accounts(self, *, listing: bool = True) -> None:
        """A tab for every saved account. ``listing=False``: only the tabs, before the
        manager is started (their conversations are asked for on the next call)."""
        await self.mounted.wait()
        for account in self.manager.accounts():
            await self.ensure_tab(account, listing=listing)

    async def ensure_tab(self, account: AccountRecord, *, listing: bool = True) -> TabState:
        account_id = account.account_id
        tab = self.tabs.get(account_id)
        if tab is not None:
            tab.account = account
            self.refresh_tab(account_id)
            if listing and account_id in self._unlisted:
                self._unlisted.discard(account_id)
                self.reload_conversations(account_id)
            return tab
        tab = TabState(account=account)
        try:
            tab.state, tab.detail = self.manager.connection_state(account_id)
        except PeerwaveError as exc:
            tab.detail = str(exc)
        self.tabs[account_id] = tab
        pane = ServerPane(
            account_id,
            is_muted=partial(self.is_muted, account_id),
            today=self._today,
            now=self._now,
        )
        await self.server_tabs.add_account(tab, pane)
        self._show_empty_state()
        self.refresh_tab(account_id)
        if listing:
            self.reload_conversations(account_id)
        else:
            self._unlisted.add(account_id)
        return tab

    async def drop_tab(self, account_id: str) -> None:
        self._unlisted.discard(account_id)
        if self.tabs.pop(account_id, None) is not None:
            await self.server_tabs.remove_account(account_id)
        self._show_empty_state()

    def refresh_tab_soon(self, account_id: str) -> None:
        """``refresh_tab`` for core events, which come in bursts (a drain): at most one
        refresh per account every ``TAB_REFRESH_INTERVAL``; the latest state always
        shows, at most that much later."""
        if account_id in self._refresh_due:
            return
        wait = self._refreshed_at.get(account_id, -TAB_REFRESH_INTERVAL)
        wait += TAB_REFRESH_INTERVAL - time.monotonic()
        if wait <= 0:
            self.refresh_tab(account_id)
            return
        self._refresh_due.add(account_id)
        self.set_timer(wait, partial(self._refresh_when_due, account_id))

    def _refresh_when_due(self, account_id: str) -> None:
        self._refresh_due.discard(account_id)
        self.refresh_tab(account_id)

    def refresh_tab(self, account_id: str) -> None:
        tab = self.tabs.get(account_id)
        if tab is None:
            return
        self._refreshed_at[account_id] = time.monotonic()
        self.server_tabs.update_label(tab)
        pane = self.server_tabs.pane_for(account_id)
        if pane is not None and pane.is_mounted:
            pane.show_tab(tab)

    def refresh_all(self) -> None:
        for account_id in self.tabs:
            self.refresh_tab(account_id)

    def _show_empty_state(self) -> None:
        empty = not self.tabs
        progress = self._progress
        for widget in self.query("#no-servers").results(Static):  # none once the screen is gone
            widget.display = empty
            widget.update(NO_SERVERS if progress is None else progress)
            widget.set_class(progress is not None and self._progress_error, "-error")
        for line in self.query("#startup-progress").results(Static):
            line.display = not empty and progress is not None
            line.update(progress or "")
            line.set_class(self._progress_error, "-error")
        for tabs in self.query(ServerTabs):
            tabs.display = not empty

    def show_progress(self, text: str | None, *, error: bool = False) -> None:
        """What a startup (the demo) is doing, or why it failed; None when it is done.
        Shown in the middle while there is no tab yet, else on a line of its own."""
        self._progress = text
        self._progress_error = error and text is not None
        self._show_empty_state()

    @property
    def progress(self) -> str | None:
        return self._progress

    async def show_conversations(self, opened: list[OpenConversation]) -> None:
        """Open each conversation in its server's pane; the first one ends up shown."""
        for account_id, conversation in reversed(opened):
            tab = self.tabs.get(account_id)
            if tab is None:
                continue
            tab.conversations.setdefault(conversation.conversation_id, conversation)
            self.refresh_tab(account_id)
            self.open_conversation(account_id, conversation.conversation_id)

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane = self.active_pane
        if pane is None:
            return
        pane.focus_default()
        if pane.conversation_id is not None:
            self.mark_read_if_needed(pane.account_id, pane.conversation_id)

    def goto_tab(self, number: int) -> None:
        order = self.server_tabs.account_ids()
        if 1 <= number <= len(order):
            self.server_tabs.activate(order[number - 1])

    def cycle_tab(self, delta: int) -> None:
        order = self.server_tabs.account_ids()
        if not order:
            return
        current = self.server_tabs.active_account_id
        index = order.index(current) if current in order else 0
        self.server_tabs.activate(order[(index + delta) % len(order)])

    # --- conversations --------------------------------------------------------------

    def reload_conversations(self, account_id: str) -> None:
        self.spawn(
            self._load_conversations(account_id), f"conversations:{account_id}", exclusive=True
        )

    async def _load_conversations(self, account_id: str) -> None:
        try:
            conversations = await self.manager.conversations(account_id)
        except Exception as exc:  # noqa: BLE001 - shown in the tab's status line
            if not isinstance(exc, PeerwaveError):
                log.error("listing conversations failed: %s", type(exc).__name__, exc_info=exc)
            tab = self.tabs.get(account_id)
            if tab is not None:
                tab.load_error = (
                    str(exc)
                    if isinstance(exc, PeerwaveError)
                    else "The conversations could not be read; details are in the log."
                )
                self.refresh_tab(account_id)
            return
        tab = self.tabs.get(account_id)
        if tab is not None:
            tab.replace_conversations(conversations)
            self.refresh_tab(account_id)

    def open_conversation(self, account_id: str, conversation_id: str) -> None:
        tab = self.tabs.get(account_id)
        pane = self.server_tabs.pane_for(account_id)
        if tab is None or pane is None:
            return
        conversation = tab.conversations.get(conversation_id)
        if conversation is None:
            return
        self.server_tabs.activate(account_id)
        if pane.conversation_id != conversation_id:
            pane.open(conversation)
            pane.show_tab(tab)
            self.spawn(
                self._load_newest(pane, account_id, conversation_id),
                f"history:{account_id}",
                exclusive=True,
            )
        pane.composer.focus()
        self.mark_read_if_needed(account_id, conversation_id)

    async def _load_newest(self, pane: ServerPane, account_id: str, conversation_id: str) -> None:
        page = await self.guarded(
            self.manager.messages(account_id, conversation_id, limit=PAGE_SIZE),
            "Loading messages",
        )
        if pane.conversation_id != conversation_id:
            return  # the user moved on
        if page is None:
            pane.message_view.clear_view("The messages could not be loaded.")
            return
        pane.message_view.set_messages(page, has_older=len(page) >= PAGE_SIZE)

    @on(ServerPane.OpenRequested)
    def _open_requested(self, event: ServerPane.OpenRequested) -> None:
        self.open_conversation(event.account_id, event.conversation_id)

    @on(ServerPane.OlderRequested)
    def _older_requested(self, event: ServerPane.OlderRequested) -> None:
        pane = self.server_tabs.pane_for(event.account_id)
        if pane is not None:
            self.spawn(
                self._load_older(pane, event.account_id, event.conversation_id, event.before),
                f"history:{event.account_id}",
            )

    async def _load_older(
        self, pane: ServerPane, account_id: str, conversation_id: str, before: int
    ) -> None:
        page = await self.guarded(
            self.manager.messages(account_id, conversation_id, before=before, limit=PAGE_SIZE),
            "Loading older messages",
        )
        if pane.conversation_id != conversation_id:
            return
        if page is None:
            pane.message_view.older_failed()
            return
        pane.message_view.prepend(page, has_older=len(page) >= PAGE_SIZE)

    def mark_read_if_needed(self, account_id: str, conversation_id: str) -> None:
        conversation = self.conversation(account_id, conversation_id)
        key = (account_id, conversation_id)
        if conversation is None or key in self._reading:
            return
        if conversation.unread == 0 and conversation.mentions == 0:
            return
        if not self.is_viewing(account_id, conversation_id):
            return
        self._reading.add(key)
        self.spawn(self._mark_read(account_id, conversation_id), "mark-read")

    async def _mark_read(self, account_id: str, conversation_id: str) -> None:
        try:
            await self.guarded(self.manager.mark_read(account_id, conversation_id), "Mark read")
        finally:
            self._reading.discard((account_id, conversation_id))

    # --- sending --------------------------------------------------------------------

    @on(ServerPane.SendRequested)
    def _send_requested(self, event: ServerPane.SendRequested) -> None:
        conversation = self.conversation(event.account_id, event.conversation_id)
        if conversation is not None and conversation.identity_blocked:
            event.composer.restore(event.text)
            self.resolve_identity(event.account_id, event.conversation_id, event.composer)
            return
        self.spawn(
            self._send(event.account_id, event.conversation_id, event.text, event.composer),
            f"send:{event.account_id}",
        )

    async def _send(
        self, account_id: str, conversation_id: str, text: str, composer: Composer
    ) -> None:
        try:
            message = await self.manager.send(account_id, conversation_id, text)
        except UntrustedIdentityError:
            self._give_back(composer, text)
            self.set_identity_blocked(account_id, conversation_id, True)
            self.resolve_identity(account_id, conversation_id, composer)
            return
        except PeerwaveError as exc:
            self._give_back(composer, text)
            self.notify(str(exc), title="Not sent", severity="error", timeout=8)
            return
        except Exception as exc:  # noqa: BLE001 - a failure shows; the app keeps running
            log.error("send failed unexpectedly: %s", type(exc).__name__, exc_info=exc)
            self._give_back(composer, text)
            self.notify(
                "Sending failed unexpectedly; details are in the log.",
                title="Not sent",
                severity="error",
            )
            return
        pane = self.pane_showing(account_id, conversation_id)
        if pane is not None:
            pane.message_view.add(message)

    @staticmethod
    def _give_back(composer: Composer, text: str) -> None:
        """Return unsent text to the composer, unless the user typed something new."""
        if not composer.text.strip():
            composer.restore(text)

    @on(ServerPane.RetryRequested)
    def _retry_requested(self, event: ServerPane.RetryRequested) -> None:
        self.spawn(
            self.guarded(
                self.manager.retry(event.account_id, event.conversation_id, event.item_id),
                "Retry",
            ),
            f"send:{event.account_id}",
        )

    def retry_failed(self) -> None:
        pane = self.active_pane
        if pane is None or pane.conversation_id is None:
            return
        failed = pane.message_view.failed_item_ids()
        if not failed:
            self.notify("No failed messages here.", timeout=3)
            return
        for item_id in failed:
            pane.post_message(
                ServerPane.RetryRequested(pane.account_id, pane.conversation_id, item_id)
            )

    # --- trust ----------------------------------------------------------------------

    def set_identity_blocked(self, account_id: str, conversation_id: str, blocked: bool) -> None:
        conversation = self.conversation(account_id, conversation_id)
        if conversation is not None:
            conversation.identity_blocked = blocked
            self.refresh_tab(account_id)

    def conversation(self, account_id: str, conversation_id: str) -> Conversation | None:
        tab = self.tabs.get(account_id)
        return tab.conversations.get(conversation_id) if tab else None

    def title_of(self, account_id: str, conversation_id: str) -> str:
        conversation = self.conversation(account_id, conversation_id)
        return conversation.title if conversation is not None else "This contact"

    def resolve_identity(
        self, account_id: str, contact_id: str, composer: Composer | None = None
    ) -> None:
        self.spawn(
            flows.resolve_identity(self, account_id, contact_id, composer), "trust", exclusive=True
        )

    def show_safety_number(self) -> None:
        pane = self.active_pane
        if pane is None or pane.conversation is None:
            self.notify("Open a conversation with the contact first.", severity="warning")
            return
        if pane.conversation.kind is not ConversationKind.DIRECT:
            self.notify("Safety numbers belong to a contact, not a group.", severity="warning")
            return
        contact_id = pane.conversation.conversation_id
        self.spawn(flows.safety_number(self, pane.account_id, contact_id), "trust", exclusive=True)

    # --- finding conversations ------------------------------------------------------

    def quick_switcher(self) -> None:
        self.spawn(flows.quick_switch(self), "switcher", exclusive=True)

    def next_unread(self) -> None:
        pane = self.active_pane
        target = next_unread(
            self.tab_order(),
            pane.account_id if pane else None,
            pane.conversation_id if pane else None,
        )
        if target is None:
            self.notify("Nothing unread.", timeout=3)
            return
        self.open_conversation(*target)

    def new_conversation(self) -> None:
        tab = self.active_tab
        if tab is None:
            self.notify("Add a server first (Ctrl+P → Add server).", severity="warning")
            return
        self.spawn(flows.new_conversation(self, tab.account_id), "new-conversation", exclusive=True)

    # --- muting, magic keys, removing -----------------------------------------------

    def toggle_mute_conversation(self) -> None:
        pane = self.active_pane
        if pane is None or pane.conversation_id is None:
            self.notify("Open a conversation first.", severity="warning")
            return
        muted = _toggle(
            self.settings.muted_conversations,
            conversation_key(pane.account_id, pane.conversation_id),
        )
        self.notify("Conversation muted." if muted else "Conversation unmuted.", timeout=3)
        self._save_settings()
        self.refresh_tab(pane.account_id)

    def toggle_mute_server(self, account_id: str) -> None:
        muted = _toggle(self.settings.muted_servers, account_id)
        self.notify("Server muted." if muted else "Server unmuted.", timeout=3)
        self._save_settings()
        self.refresh_tab(account_id)

    def generate_magic_key(self, account_id: str) -> None:
        self.spawn(flows.magic_key(self, account_id), "magic-key", exclusive=True)

    def remove_server(self, account_id: str) -> None:
        self.spawn(flows.remove_server(self, account_id), "remove-server", exclusive=True)


def _toggle(items: list[str], item: str) -> bool:
    """Add or remove ``item``; True when it is in the list afterwards."""
    if item in items:
        items.remove(item)
        return False
    items.append(item)
    return True

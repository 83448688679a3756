"""How the main screen reacts to core events (Textual messages from ``ui/bridge.py``).

A mixin of ``MainScreen``, split out to keep modules small. Textual finds the handlers
by name (``on_<message>``); ``EventHost`` lists what they use of the screen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from peerwave_tui import events as core
from peerwave_tui.models import (
    AccountRecord,
    ConnectionState,
    ConversationKind,
    Direction,
    MessageKind,
)
from peerwave_tui.ui import bridge
from peerwave_tui.ui.format import one_line
from peerwave_tui.ui.notify import IncomingMessage, Notifier
from peerwave_tui.ui.state import TabState

if TYPE_CHECKING:
    from textual.timer import Timer

    from peerwave_tui.ui.app import PeerwaveApp
    from peerwave_tui.ui.widgets.server_pane import ServerPane

BACKLOG_NOTE_SECONDS = 6.0  # how long "received N pending messages" stays


class EventHost(Protocol):
    """What the handlers need from the screen they are mixed into."""

    tabs: dict[str, TabState]
    notifier: Notifier

    @property
    def app(self) -> PeerwaveApp: ...

    async def ensure_tab(self, account: AccountRecord) -> TabState: ...
    async def drop_tab(self, account_id: str) -> None: ...
    def refresh_tab(self, account_id: str) -> None: ...
    def refresh_tab_soon(self, account_id: str) -> None: ...
    def reload_conversations(self, account_id: str) -> None: ...
    def pane_showing(self, account_id: str, conversation_id: str) -> ServerPane | None: ...
    def is_viewing(self, account_id: str, conversation_id: str) -> bool: ...
    def mark_read_if_needed(self, account_id: str, conversation_id: str) -> None: ...
    def set_identity_blocked(
        self, account_id: str, conversation_id: str, blocked: bool
    ) -> None: ...
    def title_of(self, account_id: str, conversation_id: str) -> str: ...
    def notify(
        self,
        message: str,
        *,
        title: str = ...,
        severity: Any = ...,
        timeout: float | None = ...,
        markup: bool = ...,
    ) -> None: ...
    def set_timer(self, delay: float, callback: Callable[[], Any] | None = ...) -> Timer: ...


class CoreEventsMixin:
    async def on_account_added(self: EventHost, message: bridge.AccountAdded) -> None:
        await self.ensure_tab(message.event.account)

    async def on_account_removed(self: EventHost, message: bridge.AccountRemoved) -> None:
        await self.drop_tab(message.account_id)

    def on_account_updated(self: EventHost, message: bridge.AccountUpdated) -> None:
        tab = self.tabs.get(message.account_id)
        if tab is not None:
            tab.account = message.event.account
            self.refresh_tab(message.account_id)

    def on_connection_changed(self: EventHost, message: bridge.ConnectionChanged) -> None:
        tab = self.tabs.get(message.account_id)
        if tab is None:
            return
        event = message.event
        was = tab.state
        tab.state, tab.detail, tab.retry_at = event.state, event.detail, event.retry_at
        self.refresh_tab(message.account_id)
        if event.state is ConnectionState.CONNECTED and was is not ConnectionState.CONNECTED:
            # The store may just have opened (after an unlock) or the server come back.
            self.reload_conversations(message.account_id)
        if event.state is ConnectionState.LOCKED and was is not ConnectionState.LOCKED:
            self.app.call_later(self.app.request_unlock)

    def on_conversation_updated(self: EventHost, message: bridge.ConversationUpdated) -> None:
        tab = self.tabs.get(message.account_id)
        if tab is None:
            return
        conversation = message.event.conversation
        tab.conversations[conversation.conversation_id] = conversation
        self.refresh_tab_soon(message.account_id)
        self.mark_read_if_needed(message.account_id, conversation.conversation_id)

    def on_message_received(self: EventHost, message: bridge.MessageReceived) -> None:
        received(self, [message.event])

    def on_messages_received(self: EventHost, message: bridge.MessagesReceived) -> None:
        received(self, message.events)

    def on_message_added(self: EventHost, message: bridge.MessageAdded) -> None:
        chat = message.event.message
        pane = self.pane_showing(message.account_id, chat.conversation_id)
        if pane is not None:
            pane.message_view.add(chat)

    def on_message_status_changed(self: EventHost, message: bridge.MessageStatusChanged) -> None:
        event = message.event
        pane = self.pane_showing(message.account_id, event.conversation_id)
        if pane is not None:
            pane.message_view.set_status(event.item_id, event.status, event.detail)

    def on_presence_changed(self: EventHost, message: bridge.PresenceChanged) -> None:
        tab = self.tabs.get(message.account_id)
        if tab is None:
            return
        conversation = tab.conversations.get(message.event.user_id)
        if conversation is not None and conversation.kind is ConversationKind.DIRECT:
            conversation.online = message.event.online
            self.refresh_tab_soon(message.account_id)

    def on_identity_changed(self: EventHost, message: bridge.IdentityChanged) -> None:
        contact_id = message.event.contact_id
        self.set_identity_blocked(message.account_id, contact_id, True)
        title = self.title_of(message.account_id, contact_id)
        self.notify(
            f"{one_line(title, 40)}'s safety number changed. Sending to them is held until "
            "you verify it or accept the new key.",
            title="Safety number changed",
            severity="warning",
            timeout=10,
        )

    def on_new_device_seen(self: EventHost, message: bridge.NewDeviceSeen) -> None:
        title = self.title_of(message.account_id, message.event.contact_id)
        self.notify(f"{one_line(title, 40)} has a new device.", timeout=5)

    def on_backlog_progress(self: EventHost, message: bridge.BacklogProgress) -> None:
        tab = self.tabs.get(message.account_id)
        if tab is None:
            return
        if message.event.done and message.event.processed == 0 and not tab.backlog_processed:
            # Nothing was waiting: nothing to say.
            tab.backlog_processed, tab.backlog_done = None, False
            self.refresh_tab_soon(message.account_id)
            return
        tab.backlog_processed = message.event.processed
        tab.backlog_done = message.event.done
        self.refresh_tab_soon(message.account_id)
        if message.event.done:
            account_id = message.account_id

            def clear() -> None:
                current = self.tabs.get(account_id)
                if current is not None and current.backlog_done:
                    current.backlog_processed = None
                    current.backlog_done = False
                    self.refresh_tab_soon(account_id)

            self.set_timer(BACKLOG_NOTE_SECONDS, clear)

    def on_key_generation_progress(self: EventHost, message: bridge.KeyGenerationProgress) -> None:
        tab = self.tabs.get(message.account_id)
        if tab is not None:
            tab.generating_keys = not message.event.done
            self.refresh_tab_soon(message.account_id)

    def on_error_raised(self: EventHost, message: bridge.ErrorRaised) -> None:
        tab = self.tabs.get(message.account_id)
        self.notify(
            message.event.message,
            title=tab.name if tab else "",
            severity="error" if message.event.needs_user else "warning",
            timeout=12 if message.event.needs_user else 6,
        )

    def on_event_stream_ended(self: EventHost, message: bridge.EventStreamEnded) -> None:
        if message.error:
            self.notify(
                f"Live updates stopped: {message.error}",
                severity="error",
                timeout=15,
            )


def received(host: EventHost, events: Sequence[core.MessageReceived]) -> None:
    """Show a burst of committed messages (one, or a drained page): each goes into the
    open conversation's view if it belongs there; then, once per conversation, the
    read mark and one notification for however many arrived."""
    reload: set[str] = set()
    arrived: dict[tuple[str, str], tuple[IncomingMessage, int]] = {}
    for event in events:
        account_id = event.account_id
        chat = event.message
        tab = host.tabs.get(account_id)
        if tab is None:
            continue
        pane = host.pane_showing(account_id, chat.conversation_id)
        if pane is not None:
            pane.message_view.add(chat)
        conversation = tab.conversations.get(chat.conversation_id)
        if conversation is None:
            reload.add(account_id)  # a conversation we have not listed yet
        if chat.direction is not Direction.IN or chat.kind is MessageKind.NOTICE:
            continue
        title = conversation.title if conversation else (chat.sender_name or "New contact")
        text = chat.text if chat.kind is MessageKind.TEXT else "(a message that cannot be shown)"
        key = (account_id, chat.conversation_id)
        count = arrived[key][1] + 1 if key in arrived else 1
        arrived[key] = (
            IncomingMessage(
                account_id=account_id,
                conversation_id=chat.conversation_id,
                server_name=tab.name,
                title=title,
                text=text,
                muted=bool(conversation and conversation.muted),
            ),
            count,
        )
    for account_id in reload:
        host.reload_conversations(account_id)
    for (account_id, conversation_id), (incoming, count) in arrived.items():
        viewing = host.is_viewing(account_id, conversation_id)
        if viewing:
            host.mark_read_if_needed(account_id, conversation_id)
        host.notifier.message_arrived(incoming, viewing=viewing, count=count)

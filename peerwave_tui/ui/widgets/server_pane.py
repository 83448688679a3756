"""Everything one server tab shows: its conversations, the open conversation (header,
messages, composer) and its status line.

The pane only shows state and turns its children's messages into requests that name
the account and conversation; the main screen acts on them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from peerwave_tui.models import Conversation, ConversationKind, utc_now
from peerwave_tui.ui.format import one_line, same_content
from peerwave_tui.ui.state import TabState
from peerwave_tui.ui.widgets.composer import Composer
from peerwave_tui.ui.widgets.conversation_list import ConversationList
from peerwave_tui.ui.widgets.message_view import MessageView
from peerwave_tui.ui.widgets.status_line import StatusLine


class ServerPane(Vertical):
    DEFAULT_CSS = """
    ServerPane {
        height: 1fr;
    }
    ServerPane > Horizontal {
        height: 1fr;
    }
    ServerPane .conversation-column {
        width: 1fr;
    }
    ServerPane ConversationList {
        width: 32;
    }
    ServerPane .conversation-header {
        height: 1;
    }
    """

    class _Request(Message):
        def __init__(self, account_id: str, conversation_id: str) -> None:
            self.account_id = account_id
            self.conversation_id = conversation_id
            super().__init__()

    class OpenRequested(_Request):
        pass

    class SendRequested(_Request):
        def __init__(
            self, account_id: str, conversation_id: str, text: str, composer: Composer
        ) -> None:
            super().__init__(account_id, conversation_id)
            self.text = text
            self.composer = composer

    class OlderRequested(_Request):
        def __init__(self, account_id: str, conversation_id: str, before: int) -> None:
            super().__init__(account_id, conversation_id)
            self.before = before

    class RetryRequested(_Request):
        def __init__(self, account_id: str, conversation_id: str, item_id: str) -> None:
            super().__init__(account_id, conversation_id)
            self.item_id = item_id

    def __init__(
        self,
        account_id: str,
        *,
        is_muted: Callable[[str], bool],
        today: Callable[[], date] = date.today,
        now: Callable[[], datetime] = utc_now,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.account_id = account_id
        self.conversation: Conversation | None = None
        self._tab: TabState | None = None  # the latest state, kept until the parts exist
        self._is_muted = is_muted
        self._today = today
        self._now = now

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield ConversationList(is_muted=self._is_muted)
            with Vertical(classes="conversation-column"):
                yield Static("", classes="conversation-header")
                yield MessageView(today=self._today)
                yield Composer()
        yield StatusLine(now=self._now)

    # --- parts ---------------------------------------------------------------------

    @property
    def conversation_id(self) -> str | None:
        return self.conversation.conversation_id if self.conversation else None

    @property
    def conversation_list(self) -> ConversationList:
        return self.query_one(ConversationList)

    @property
    def message_view(self) -> MessageView:
        return self.query_one(MessageView)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    @property
    def status_line(self) -> StatusLine:
        return self.query_one(StatusLine)

    # --- what the screen calls -----------------------------------------------------

    def on_mount(self) -> None:
        # A refresh may have come while the parts were still being mounted.
        self.call_after_refresh(self._show_kept_tab)

    def _show_kept_tab(self) -> None:
        if self._tab is not None:
            self.show_tab(self._tab)

    def show_tab(self, tab: TabState) -> None:
        """Refresh the list, the header and the status line from the tab's state (kept
        for later while the parts are not mounted yet: two events about a new account
        can race its mounting)."""
        self._tab = tab
        if not self.query(StatusLine):
            return
        conversations = tab.sorted_conversations()
        self.conversation_list.show(conversations, self.conversation_id)
        if self.conversation is not None:
            latest = tab.conversations.get(self.conversation.conversation_id)
            if latest is not None:
                self.conversation = latest
        self._show_header()
        self.status_line.show_state(tab)

    def open(self, conversation: Conversation) -> None:
        """Start showing a conversation (its messages arrive with ``set_messages``)."""
        self.conversation = conversation
        self.message_view.clear_view("Loading…")
        self._show_header()

    def focus_default(self) -> None:
        if self.conversation is not None:
            self.composer.focus()
        else:
            self.conversation_list.focus()

    def _show_header(self) -> None:
        header = self.query_one(".conversation-header", Static)
        content = self._header_content()
        if not same_content(header.content, content):
            header.update(content, layout=False)  # one line, always

    def _header_content(self) -> Content:
        conv = self.conversation
        if conv is None:
            return Content(
                "Choose a conversation on the left (Ctrl+K to search, Ctrl+N for a new one)"
            )
        parts: list[str | tuple[str, str]] = [(f" {one_line(conv.title, 60)}", "bold")]
        if conv.kind is ConversationKind.DIRECT:
            parts.append(("  online" if conv.online else "  offline", "$text-muted"))
        elif conv.member_count:
            parts.append((f"  {conv.member_count} members", "$text-muted"))
        if conv.identity_blocked:
            parts.append(("  ⚠ safety number changed: verify before sending", "bold $warning"))
        return Content.assemble(*parts)

    # --- children's messages, passed up with the account and conversation -----------

    @on(ConversationList.Chosen)
    def _chosen(self, event: ConversationList.Chosen) -> None:
        event.stop()
        self.post_message(self.OpenRequested(self.account_id, event.conversation_id))

    @on(Composer.Submitted)
    def _submitted(self, event: Composer.Submitted) -> None:
        event.stop()
        if self.conversation is None:
            event.composer.restore(event.text)
            self.notify("Choose a conversation first.", severity="warning")
            return
        self.post_message(
            self.SendRequested(
                self.account_id, self.conversation.conversation_id, event.text, event.composer
            )
        )

    @on(MessageView.OlderRequested)
    def _older(self, event: MessageView.OlderRequested) -> None:
        event.stop()
        if self.conversation is not None:
            self.post_message(
                self.OlderRequested(
                    self.account_id, self.conversation.conversation_id, event.before
                )
            )

    @on(MessageView.RetryRequested)
    def _retry(self, event: MessageView.RetryRequested) -> None:
        event.stop()
        if self.conversation is not None:
            self.post_message(
                self.RetryRequested(
                    self.account_id, self.conversation.conversation_id, event.item_id
                )
            )

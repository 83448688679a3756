"""What the UI knows about each server tab, kept by the main screen and shown by widgets.

Plain data and pure functions (no Textual), so ordering and unread rules are easy to test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from peerwave_tui.models import AccountRecord, ConnectionState, Conversation

_EPOCH = datetime.min.replace(tzinfo=UTC)


def conversation_key(account_id: str, conversation_id: str) -> str:
    """How settings name a conversation (``muted_conversations``)."""
    return f"{account_id}|{conversation_id}"


@dataclass
class TabState:
    """One server+account tab."""

    account: AccountRecord
    state: ConnectionState = ConnectionState.CONNECTING
    detail: str | None = None
    retry_at: datetime | None = None
    conversations: dict[str, Conversation] = field(default_factory=dict)
    load_error: str | None = None  # the conversation list could not be read
    backlog_processed: int | None = None  # pending messages drained so far (None: idle)
    backlog_done: bool = False
    generating_keys: bool = False

    @property
    def account_id(self) -> str:
        return self.account.account_id

    @property
    def name(self) -> str:
        """The tab's title: the server's name, else its host."""
        if self.account.server_name:
            return self.account.server_name
        url = self.account.server_url
        return url.split("://", 1)[-1]

    @property
    def unread(self) -> int:
        return sum(conv.unread for conv in self.conversations.values())

    @property
    def mentions(self) -> int:
        return sum(conv.mentions for conv in self.conversations.values())

    def sorted_conversations(self) -> list[Conversation]:
        return sort_conversations(self.conversations.values())

    def replace_conversations(self, conversations: list[Conversation]) -> None:
        self.conversations = {conv.conversation_id: conv for conv in conversations}
        self.load_error = None


def sort_conversations(conversations: Iterable[Conversation]) -> list[Conversation]:
    """Most recent activity first; conversations without activity last, by title."""
    return sorted(
        conversations,
        key=lambda conv: (
            -(conv.last_activity or _EPOCH).timestamp(),
            conv.title.casefold(),
            conv.conversation_id,
        ),
    )


def next_unread(
    tabs: list[TabState], current_account: str | None, current_conversation: str | None
) -> tuple[str, str] | None:
    """The next conversation with unread activity after the current one, on any server.

    Walks the tabs in order starting at the current tab (after the current conversation,
    in list order), wrapping around; the current conversation itself comes last.
    """
    order: list[tuple[str, str]] = []
    for tab in tabs:
        for conv in tab.sorted_conversations():
            order.append((tab.account_id, conv.conversation_id))
    if not order:
        return None
    unread = {
        (tab.account_id, conv.conversation_id)
        for tab in tabs
        for conv in tab.conversations.values()
        if conv.unread > 0 or conv.mentions > 0
    }
    if not unread:
        return None
    start = 0
    current: tuple[str, str] | None = None
    if current_account is not None and current_conversation is not None:
        current = (current_account, current_conversation)
    if current in order:
        start = order.index(current) + 1
    elif current_account is not None:
        for index, (account_id, _conv) in enumerate(order):
            if account_id == current_account:
                start = index
                break
    for offset in range(len(order)):
        candidate = order[(start + offset) % len(order)]
        if candidate in unread:
            return candidate
    return None

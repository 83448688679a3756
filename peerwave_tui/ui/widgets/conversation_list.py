"""The conversations of one server, most recent activity first, with unread counts
and presence. Choosing one posts ``ConversationList.Chosen``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from peerwave_tui.models import Conversation, ConversationKind
from peerwave_tui.ui.format import one_line, same_content


class ConversationList(OptionList):
    DEFAULT_CSS = """
    ConversationList {
        height: 1fr;
    }
    """

    class Chosen(Message):
        def __init__(self, conversation_id: str) -> None:
            self.conversation_id = conversation_id
            super().__init__()

    def __init__(
        self,
        *,
        is_muted: Callable[[str], bool] = lambda _conversation_id: False,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._is_muted = is_muted
        self._order: list[str] = []
        self._current: str | None = None
        self._shown: list[tuple[str, Content]] = []

    @property
    def order(self) -> list[str]:
        """Conversation ids as listed."""
        return list(self._order)

    def show(self, conversations: Iterable[Conversation], current: str | None) -> None:
        """Replace the list (already sorted), keeping the highlight where it was."""
        keep = self.highlighted_option.id if self.highlighted_option is not None else None
        convs = list(conversations)
        self._current = current
        prompts = [(conv.conversation_id, self._prompt(conv)) for conv in convs]
        if self._same_as_shown(prompts):
            return  # a burst of events (a drain) often changes nothing that shows here
        self._order = [conversation_id for conversation_id, _ in prompts]
        self._shown = prompts
        self.set_options(Option(prompt, id=conversation_id) for conversation_id, prompt in prompts)
        target = keep if keep in self._order else current
        if target in self._order:
            self.highlighted = self._order.index(target)
        elif self._order:
            self.highlighted = 0  # Enter always has something to open

    def _same_as_shown(self, prompts: list[tuple[str, Content]]) -> bool:
        shown = self._shown
        return len(prompts) == len(shown) and all(
            new_id == old_id and same_content(new, old)
            for (new_id, new), (old_id, old) in zip(prompts, shown, strict=True)
        )

    def _prompt(self, conv: Conversation) -> Content:
        parts: list[str | tuple[str, str]] = []
        if conv.kind is ConversationKind.DIRECT:
            parts.append(("● ", "$success") if conv.online else ("○ ", "$text-muted"))
        else:
            parts.append(("# ", "$text-muted"))
        title_style = "bold" if conv.unread else ""
        if conv.conversation_id == self._current:
            title_style = f"{title_style} underline".strip()
        parts.append((one_line(conv.title, 40), title_style))
        if conv.kind is ConversationKind.GROUP and conv.member_count is not None:
            parts.append((f" ({conv.member_count})", "$text-muted"))  # channel members
        if conv.identity_blocked:
            parts.append((" ⚠", "$warning"))
        if self._is_muted(conv.conversation_id) or conv.muted:
            parts.append((" (muted)", "$text-muted"))
        if conv.mentions:
            parts.append((" @", "bold $accent"))
        if conv.unread:
            parts.append((f" {conv.unread}", "bold $accent"))
        return Content.assemble(*parts)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Chosen(event.option.id))

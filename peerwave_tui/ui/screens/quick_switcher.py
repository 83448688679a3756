"""Ctrl+K: jump to any conversation on any server, filtered as you type (fuzzy)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from peerwave_tui.ui.format import one_line


@dataclass(frozen=True)
class SwitcherEntry:
    account_id: str
    conversation_id: str
    title: str
    server_name: str
    unread: int = 0


def filter_entries(entries: list[SwitcherEntry], query: str) -> list[SwitcherEntry]:
    """Entries matching ``query`` (fuzzy, over title and server), best first; all when empty."""
    query = query.strip()
    if not query:
        return list(entries)
    matcher = Matcher(query)
    scored = []
    for position, entry in enumerate(entries):
        score = max(matcher.match(entry.title), matcher.match(f"{entry.title} {entry.server_name}"))
        if score > 0:
            scored.append((-score, position, entry))
    scored.sort()
    return [entry for _score, _position, entry in scored]


class QuickSwitcher(ModalScreen[tuple[str, str] | None]):
    """Dismisses with ``(account_id, conversation_id)``."""

    BINDINGS = [
        Binding("escape", "cancel", "Close", show=False),
        Binding("down", "move(1)", show=False, priority=True),
        Binding("up", "move(-1)", show=False, priority=True),
    ]

    def __init__(self, entries: list[SwitcherEntry]) -> None:
        super().__init__()
        self._entries = entries
        self._shown: list[SwitcherEntry] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog dialog-wide", id="switcher"):
            yield Label("Go to conversation", classes="dialog-title")
            yield Input(placeholder="Type a name…", id="switcher-query")
            yield OptionList(id="switcher-results")

    def on_mount(self) -> None:
        self._show("")
        self.query_one("#switcher-query", Input).focus()

    @on(Input.Changed, "#switcher-query")
    def _changed(self, event: Input.Changed) -> None:
        self._show(event.value)

    def _show(self, query: str) -> None:
        self._shown = filter_entries(self._entries, query)
        results = self.query_one("#switcher-results", OptionList)
        results.set_options(
            Option(self._prompt(entry), id=str(index)) for index, entry in enumerate(self._shown)
        )
        if self._shown:
            results.highlighted = 0

    @staticmethod
    def _prompt(entry: SwitcherEntry) -> Content:
        parts: list[str | tuple[str, str]] = [
            one_line(entry.title, 40),
            (f"  {one_line(entry.server_name, 24)}", "$text-muted"),
        ]
        if entry.unread:
            parts.append((f"  {entry.unread}", "bold $accent"))
        return Content.assemble(*parts)

    def action_move(self, delta: int) -> None:
        results = self.query_one("#switcher-results", OptionList)
        if not self._shown:
            return
        current = results.highlighted if results.highlighted is not None else -1
        results.highlighted = max(0, min(len(self._shown) - 1, current + delta))

    @on(Input.Submitted, "#switcher-query")
    def _submitted(self) -> None:
        results = self.query_one("#switcher-results", OptionList)
        if results.highlighted is not None and self._shown:
            self._choose(results.highlighted)

    @on(OptionList.OptionSelected, "#switcher-results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option_index)

    def _choose(self, index: int) -> None:
        entry = self._shown[index]
        self.dismiss((entry.account_id, entry.conversation_id))

    def action_cancel(self) -> None:
        self.dismiss(None)

"""One tab per server+account: its name, connection state and unread count.

Tabs only change what is shown: switching never connects or disconnects anything.
"""

from __future__ import annotations

from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import Static, Tab, TabbedContent, TabPane

from peerwave_tui.models import ConnectionState
from peerwave_tui.ui.format import STATE_GLYPHS, one_line, same_content
from peerwave_tui.ui.state import TabState
from peerwave_tui.ui.widgets.server_pane import ServerPane

_STATE_STYLES = {
    ConnectionState.CONNECTED: "$success",
    ConnectionState.CONNECTING: "$warning",
    ConnectionState.OFFLINE: "$text-muted",
    ConnectionState.LOCKED: "$warning",
    ConnectionState.ERROR: "$error",
    ConnectionState.CLOSED: "$text-muted",
}


def tab_label(tab: TabState) -> Content:
    """``name ● 3@``: the state as a glyph (and a word unless connected), unread, mentions."""
    parts: list[str | tuple[str, str]] = [
        one_line(tab.name, 24),
        " ",
        (STATE_GLYPHS[tab.state], _STATE_STYLES[tab.state]),
    ]
    if tab.state is not ConnectionState.CONNECTED:
        parts.append((f" {tab.state.value}", _STATE_STYLES[tab.state]))
    unread = tab.unread
    if unread:
        parts.append((f" {unread}", "bold"))
    if tab.mentions:
        parts.append(("@", "bold $accent"))
    return Content.assemble(*parts)


class ServerTabs(TabbedContent):
    """A ``TabbedContent`` whose panes are keyed by account id."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._pane_ids: dict[str, str] = {}  # account_id -> pane id
        # account_id -> its pane: looked up for every core event, so never by a DOM query.
        self._panes: dict[str, ServerPane] = {}
        self._next = 0

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        # TabbedContent switches to a pane when something inside it gets focus. Focus is
        # handed back to the previously focused widget after every dialog, which would
        # flip the tab back behind the user's back; tabs change only when asked.
        event.stop()
        event.prevent_default()

    def account_ids(self) -> list[str]:
        """Accounts in tab order."""
        by_pane = {pane_id: account for account, pane_id in self._pane_ids.items()}
        order: list[str] = []
        for pane in self.query(TabPane):
            if pane.id in by_pane:
                order.append(by_pane[pane.id])
        return order

    @property
    def active_account_id(self) -> str | None:
        for account_id, pane_id in self._pane_ids.items():
            if pane_id == self.active:
                return account_id
        return None

    def pane_for(self, account_id: str) -> ServerPane | None:
        """The account's pane, once it is in the DOM."""
        pane = self._panes.get(account_id)
        return pane if pane is not None and pane.is_attached else None

    async def add_account(self, tab: TabState, pane: ServerPane) -> None:
        pane_id = f"account-{self._next}"
        self._next += 1
        self._pane_ids[tab.account_id] = pane_id
        self._panes[tab.account_id] = pane
        await self.add_pane(TabPane(tab_label(tab), pane, id=pane_id))

    async def remove_account(self, account_id: str) -> None:
        self._panes.pop(account_id, None)
        pane_id = self._pane_ids.pop(account_id, None)
        if pane_id is not None:
            await self.remove_pane(pane_id)

    def tab_for(self, account_id: str) -> Tab | None:
        """The account's tab (the label in the row), once it is mounted."""
        pane_id = self._pane_ids.get(account_id)
        if pane_id is None:
            return None
        try:
            return self.get_tab(pane_id)
        except NoMatches:
            return None

    def update_label(self, tab: TabState) -> None:
        widget = self.tab_for(tab.account_id)
        if widget is None:
            return  # the tab is still being mounted; it gets its label on the next refresh
        label = tab_label(tab)
        shown = widget.label
        if same_content(shown, label):
            return  # a burst of events often changes nothing here
        if label.cell_length != shown.cell_length:
            widget.label = label  # lays the whole screen out again: the tabs move
            return
        # Same width (an unread count going from 41 to 42 during a drain): redraw this
        # tab alone. ``Tab.label`` would lay out the whole screen for every change, and
        # those frames are what key presses typed meanwhile wait for. (``_label`` is
        # Tab's own field behind ``label``; Textual is pinned.)
        widget._label = label
        Static.update(widget, label, layout=False)

    def activate(self, account_id: str) -> bool:
        pane_id = self._pane_ids.get(account_id)
        if pane_id is None:
            return False
        self.active = pane_id
        return True

"""One line per server: connection state, the reason, a reconnect countdown, and
progress (pending backlog being drained, keys being generated)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static

from peerwave_tui.models import ConnectionState, utc_now
from peerwave_tui.ui.format import STATE_GLYPHS, countdown, one_line
from peerwave_tui.ui.state import TabState

_STATE_WORDS = {
    ConnectionState.CONNECTED: "Connected",
    ConnectionState.CONNECTING: "Connecting…",
    ConnectionState.OFFLINE: "Offline",
    ConnectionState.LOCKED: "Locked: the store needs its passphrase (Ctrl+P → Unlock)",
    ConnectionState.ERROR: "Stopped",
    ConnectionState.CLOSED: "Closed",
}


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine {
        height: 1;
    }
    """

    def __init__(
        self,
        *,
        now: Callable[[], datetime] = utc_now,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__("", id=id, classes=classes)
        self._now = now
        self._tab: TabState | None = None
        self._timer: Timer | None = None
        self._shown: str | None = None

    def show_state(self, tab: TabState) -> None:
        self._tab = tab
        for state in ConnectionState:
            self.set_class(tab.state is state, f"-{state.value}")
        self._tick()

    def _tick(self) -> None:
        self._render_state()
        # The timer runs only while there is something to count down: not once the
        # retry is due (the line then says "retrying in 0 s" until the state changes).
        tab = self._tab
        counting = (
            tab is not None
            and tab.retry_at is not None
            and tab.state is not ConnectionState.CONNECTED
            and tab.retry_at > self._now()
        )
        if counting and self._timer is None:
            self._timer = self.set_interval(1.0, self._tick, name="reconnect-countdown")
        elif not counting and self._timer is not None:
            self._timer.stop()
            self._timer = None

    @property
    def counting_down(self) -> bool:
        return self._timer is not None

    def text(self) -> str:
        """The line as plain text (what the user reads)."""
        tab = self._tab
        if tab is None:
            return ""
        parts = [f"{STATE_GLYPHS[tab.state]} {_STATE_WORDS[tab.state]}"]
        if tab.detail:
            parts.append(one_line(tab.detail, 100))
        if tab.retry_at is not None and tab.state is not ConnectionState.CONNECTED:
            parts.append(f"retrying in {countdown(tab.retry_at, self._now())}")
        if tab.load_error:
            parts.append(one_line(tab.load_error, 80))
        if tab.generating_keys:
            parts.append("generating keys…")
        if tab.backlog_processed is not None:
            if tab.backlog_done:
                parts.append(f"received {tab.backlog_processed} pending messages")
            else:
                parts.append(f"receiving pending messages… {tab.backlog_processed}")
        return " · ".join(parts)

    def _render_state(self) -> None:
        text = self.text()
        if text == self._shown:
            return  # a burst of events (a drain's progress) often changes nothing here
        self._shown = text
        self.update(Content(text), layout=False)  # one line, always: no layout needed

"""The message composer: Enter sends, Ctrl+J (or Shift+Enter) adds a line, Up recalls.

A ``TextArea`` keeps every printable key (so a typed '£' is a '£'); app-wide shortcuts
are priority bindings and fire before it sees a key.

The cursor blinks while the user is active and stays on (still) after ``still_after``
seconds without a key, click or focus change, like GTK's cursor-blink-timeout: each
blink redraws the screen, which was most of what an idle app cost in CPU.
"""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.timer import Timer
from textual.widgets import TextArea

NEWLINE_KEYS = frozenset({"ctrl+j", "shift+enter"})
STILL_AFTER = 10.0  # seconds without activity, then the cursor stops blinking


class Composer(TextArea):
    """Posts ``Composer.Submitted`` on Enter; never sends anything itself."""

    DEFAULT_CSS = """
    Composer {
        height: auto;
        max-height: 8;
        min-height: 3;
    }
    """

    class Submitted(Message):
        def __init__(self, composer: Composer, text: str) -> None:
            self.composer = composer
            self.text = text
            super().__init__()

        @property
        def control(self) -> Composer:
            return self.composer

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(
            "",
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            highlight_cursor_line=False,
            placeholder="Write a message (Enter sends, Ctrl+J new line)",
            id=id,
            classes=classes,
        )
        self.last_sent: str | None = None
        self.still_after = STILL_AFTER
        self._still_timer: Timer | None = None

    @property
    def blinking(self) -> bool:
        """Is the cursor blinking now (focused, blinking allowed, the user active)?"""
        return self.cursor_blink and self.has_focus and self._still_timer is not None

    def _restart_blink(self) -> None:
        # Textual calls this on every key, click and focus (private; Textual is pinned).
        super()._restart_blink()
        if not (self.cursor_blink and self.is_mounted):
            return
        if self._still_timer is None:
            self._still_timer = self.set_timer(self.still_after, self._hold_still, name="still")
        else:
            self._still_timer.reset()

    def _hold_still(self) -> None:
        self._still_timer = None
        if self.has_focus:
            self._pause_blink(visible=True)  # the cursor stays on, the blink timer stops

    def restore(self, text: str) -> None:
        """Put text back (a send that could not start), cursor at the end."""
        self.load_text(text)
        self.move_cursor(self.document.end)

    async def _on_key(self, event: events.Key) -> None:
        self._restart_blink()  # also for the keys handled here, before TextArea's own
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self._submit()
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self._replace_via_keyboard("\n", start, end)
            return
        if event.key == "up" and self._may_recall():
            event.stop()
            event.prevent_default()
            self.restore(self.last_sent or "")
            return
        await super()._on_key(event)

    def _may_recall(self) -> bool:
        # Only an empty composer recalls, so Up never throws away a draft.
        return bool(self.last_sent) and self.cursor_location[0] == 0 and not self.text

    def _submit(self) -> None:
        text = self.text.strip("\n")
        if not text.strip():
            return
        # Cleared at once (sending never waits); the screen restores it if it cannot send.
        self.last_sent = text
        self.clear()
        self.post_message(self.Submitted(self, text))

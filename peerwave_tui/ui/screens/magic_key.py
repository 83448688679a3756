"""Shows a freshly generated magic key, for linking another device."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static, TextArea


class MagicKeyDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close", show=False)]

    def __init__(self, magic_key: str, server_name: str) -> None:
        super().__init__()
        self._key = magic_key
        self._server = server_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Magic key for {self._server}", classes="dialog-title", markup=False)
            yield Static(
                "On the new device choose Add server → Link a device and paste this key. "
                "It works once and expires soon; anyone holding it can sign in as you, so "
                "do not share it.",
                markup=False,
                classes="dialog-body",
            )
            area = TextArea(self._key, read_only=True, soft_wrap=True, id="magic-key")
            area.show_line_numbers = False
            yield area
            yield Static(
                "Copy puts it on the clipboard where the terminal allows it (OSC 52); "
                "otherwise select it with the mouse.",
                markup=False,
                classes="dialog-hint",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Copy", variant="primary", id="copy")
                yield Button("Close", id="close")

    @on(Button.Pressed, "#copy")
    def _copy(self) -> None:
        self.app.copy_to_clipboard(self._key)
        self.notify("Magic key copied to the clipboard.")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)

"""No usable OS keyring: say so, and name every way forward."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

KEYRING_OPTIONS = """\
peerwave-tui keeps each server's database key in the OS keyring, and none is usable here. \
It never falls back to keeping the key in a plain file. Choose one:

  • Use a passphrase instead: start with  peerwave-tui --key-mode passphrase
  • Give the passphrase without a prompt:  PEERWAVE_TUI_PASSPHRASE=…  or
    --passphrase-file FILE
  • Unlock the keyring (log in to the desktop session), or install a Secret Service
    keyring such as gnome-keyring or KeePassXC, then start again.

Servers whose keys are reachable keep working meanwhile."""


class KeyringHelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close", show=False)]

    def __init__(self, detail: str | None = None) -> None:
        super().__init__()
        self._detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog dialog-wide"):
            yield Label("The keyring is not usable", classes="dialog-title")
            if self._detail:
                yield Static(self._detail, markup=False, classes="dialog-error")
            yield Static(KEYRING_OPTIONS, markup=False, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", variant="primary", id="close")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)

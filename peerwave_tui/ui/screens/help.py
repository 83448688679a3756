"""F1: every key, as currently mapped (``[keymap]`` in config.toml remaps by id)."""

from __future__ import annotations

from collections.abc import Mapping

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static

from peerwave_tui.ui.keys import APP_KEYS, keys_for

COMPOSER_KEYS = (
    ("enter", "Send the message"),
    ("ctrl+j / shift+enter", "New line in the message"),
    ("up (empty composer)", "Recall the last sent message"),
    ("r (message list focused)", "Retry failed messages"),
    ("tab / shift+tab", "Move between the list, the messages and the composer"),
)


def _pretty(keys: str) -> str:
    return " / ".join(part.strip() for part in keys.split(","))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1", "close", "Close", show=False)]

    def __init__(self, keymap: Mapping[str, str]) -> None:
        super().__init__()
        self._keymap = keymap

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog dialog-wide", id="help"):
            yield Label("Keys", classes="dialog-title")
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            yield Static(
                'Remap any key in config.toml, e.g.  [keymap]  quick_switcher = "ctrl+o"',
                markup=False,
                classes="dialog-hint",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", variant="primary", id="close")

    def on_mount(self) -> None:
        table = self.query_one("#help-keys", DataTable)
        table.add_columns("Key", "Does", "Id")
        for key in APP_KEYS:
            table.add_row(_pretty(keys_for(key.id, self._keymap)), key.description, key.id)
        for keys, description in COMPOSER_KEYS:
            table.add_row(keys, description, "")
        table.focus()

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)

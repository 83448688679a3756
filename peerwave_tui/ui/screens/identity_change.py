"""Sending is blocked because a contact's identity key changed: verify or accept."""

from __future__ import annotations

import enum

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from peerwave_tui.ui.format import one_line


class IdentityChoice(enum.Enum):
    VERIFY = "verify"  # look at the safety number first
    ACCEPT = "accept"  # trust the new key now


class IdentityChangeDialog(ModalScreen[IdentityChoice | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, contact_title: str) -> None:
        super().__init__()
        self._contact = one_line(contact_title, 40)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog dialog-warning"):
            yield Label("Safety number changed", classes="dialog-title")
            yield Static(
                f"{self._contact}'s safety number has changed. This can mean they "
                "reinstalled the app or added a device, or that someone is in the middle. "
                "Messages to them are held until you verify the new safety number or "
                "accept the new key.",
                markup=False,
                classes="dialog-body",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Verify safety number", variant="primary", id="verify")
                yield Button("Accept new key", variant="warning", id="accept")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#verify", Button).focus()

    @on(Button.Pressed, "#verify")
    def _verify(self) -> None:
        self.dismiss(IdentityChoice.VERIFY)

    @on(Button.Pressed, "#accept")
    def _accept(self) -> None:
        self.dismiss(IdentityChoice.ACCEPT)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

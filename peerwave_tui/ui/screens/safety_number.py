"""A contact's safety number (12 groups of 5 digits) and how we trust them."""

from __future__ import annotations

import enum

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from peerwave_tui.models import SafetyNumber
from peerwave_tui.ui.format import one_line


class SafetyAction(enum.Enum):
    VERIFY = "verify"  # mark verified (accepting a changed key first)
    ACCEPT = "accept"  # accept a changed key without marking it verified


def safety_rows(number: SafetyNumber) -> list[str]:
    """Three rows of four groups, as the other client shows them."""
    groups = number.groups
    return ["  ".join(groups[row : row + 4]) for row in range(0, len(groups), 4)]


class SafetyNumberScreen(ModalScreen[SafetyAction | None]):
    BINDINGS = [Binding("escape", "close", "Close", show=False)]

    def __init__(self, number: SafetyNumber, contact_title: str) -> None:
        super().__init__()
        self._number = number
        self._contact = one_line(contact_title, 40)

    def compose(self) -> ComposeResult:
        number = self._number
        with Vertical(classes="dialog"):
            yield Label(f"Safety number with {self._contact}", classes="dialog-title", markup=False)
            yield Static(
                "Compare these digits with the ones on your contact's device, in person "
                "or over a channel you trust. If they match, mark the contact as verified.",
                markup=False,
                classes="dialog-body",
            )
            yield Static("\n".join(safety_rows(number)), markup=False, id="safety-digits")
            if number.changed:
                status, status_class = (
                    "⚠ Their key changed: sending is held until you accept it.",
                    "-changed",
                )
            elif number.verified:
                status, status_class = "✓ Verified", "-verified"
            else:
                status, status_class = "Not verified yet", "-unverified"
            yield Static(status, markup=False, id="safety-status", classes=status_class)
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    "Mark as verified",
                    variant="success",
                    id="verify",
                    disabled=number.verified and not number.changed,
                )
                if number.changed:
                    yield Button("Accept new key", variant="warning", id="accept")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    @on(Button.Pressed, "#verify")
    def _verify(self) -> None:
        self.dismiss(SafetyAction.VERIFY)

    @on(Button.Pressed, "#accept")
    def _accept(self) -> None:
        self.dismiss(SafetyAction.ACCEPT)

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)

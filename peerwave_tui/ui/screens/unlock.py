"""Asks for the passphrase of stores kept in passphrase mode (LOCKED servers)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, LoadingIndicator, Static

from peerwave_tui.errors import PeerwaveError

log = logging.getLogger(__name__)


class UnlockScreen(ModalScreen[bool]):
    """Dismisses with True once ``unlock`` accepted the passphrase, False on cancel."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, unlock: Callable[[str], Awaitable[None]], servers: list[str]) -> None:
        super().__init__()
        self._unlock = unlock
        self._servers = servers

    def compose(self) -> ComposeResult:
        names = ", ".join(self._servers) if self._servers else "your servers"
        with Vertical(classes="dialog"):
            yield Label("Unlock", classes="dialog-title")
            yield Static(
                f"The stores of {names} are protected by a passphrase. Enter it to open them.",
                markup=False,
                classes="dialog-body",
            )
            yield Input(placeholder="Passphrase", password=True, id="passphrase")
            yield Static("", id="unlock-error", classes="dialog-error", markup=False)
            yield LoadingIndicator(id="unlock-busy")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Unlock", variant="primary", id="unlock")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#unlock-busy").display = False
        self.query_one("#passphrase", Input).focus()

    @on(Input.Submitted, "#passphrase")
    @on(Button.Pressed, "#unlock")
    def _submit(self) -> None:
        passphrase = self.query_one("#passphrase", Input).value
        if not passphrase:
            self._show_error("Enter the passphrase.")
            return
        self._set_busy(True)
        self.run_worker(self._try(passphrase), group="unlock", exclusive=True, exit_on_error=False)

    async def _try(self, passphrase: str) -> None:
        try:
            await self._unlock(passphrase)
        except PeerwaveError as exc:
            self._set_busy(False)
            self._show_error(str(exc))
            self.query_one("#passphrase", Input).value = ""
            return
        except Exception as exc:  # noqa: BLE001 - shown, not raised: the app keeps running
            log.error("unlock failed unexpectedly: %s", type(exc).__name__)
            self._set_busy(False)
            self._show_error("Unlocking failed unexpectedly; details are in the log.")
            return
        self.dismiss(True)

    def _set_busy(self, busy: bool) -> None:
        self.query_one("#unlock-busy").display = busy
        self.query_one("#unlock", Button).disabled = busy

    def _show_error(self, text: str) -> None:
        self.query_one("#unlock-error", Static).update(text)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)

"""Ctrl+N: pick a contact from the server's people list, filtered as you type."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from peerwave_tui.errors import PeerwaveError
from peerwave_tui.models import Contact
from peerwave_tui.ui.format import one_line

log = logging.getLogger(__name__)


def contact_matches(contact: Contact, query: str) -> bool:
    """Case-insensitive substring match on display name, @name or e-mail ("@x": @name)."""
    needle = query.strip().casefold()
    if not needle:
        return True
    if needle.startswith("@"):
        return needle[1:] in (contact.at_name or "").casefold()
    fields = (contact.display_name, contact.at_name or "", contact.email or "")
    return any(needle in field.casefold() for field in fields)


class NewConversationScreen(ModalScreen[Contact | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Close", show=False),
        Binding("down", "move(1)", show=False, priority=True),
        Binding("up", "move(-1)", show=False, priority=True),
    ]

    def __init__(
        self, load_people: Callable[[], Awaitable[list[Contact]]], server_name: str
    ) -> None:
        super().__init__()
        self._load_people = load_people
        self._server = server_name
        self._people: list[Contact] = []
        self._shown: list[Contact] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog dialog-wide", id="new-conversation"):
            yield Label(
                f"New conversation on {one_line(self._server, 40)}",
                classes="dialog-title",
                markup=False,
            )
            yield Input(placeholder="Name, @name or e-mail…", id="people-query")
            yield Static("Loading people…", id="people-status", classes="dialog-hint", markup=False)
            yield OptionList(id="people-results")

    def on_mount(self) -> None:
        self.query_one("#people-query", Input).focus()
        self.run_worker(self._load(), group="people", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        status = self.query_one("#people-status", Static)
        try:
            self._people = sorted(
                await self._load_people(), key=lambda person: person.display_name.casefold()
            )
        except PeerwaveError as exc:
            status.update(str(exc))
            status.add_class("dialog-error")
            return
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            log.error("loading people failed: %s", type(exc).__name__)
            status.update("The people list could not be loaded; details are in the log.")
            status.add_class("dialog-error")
            return
        self._show(self.query_one("#people-query", Input).value)

    @on(Input.Changed, "#people-query")
    def _changed(self, event: Input.Changed) -> None:
        self._show(event.value)

    def _show(self, query: str) -> None:
        self._shown = [person for person in self._people if contact_matches(person, query)]
        results = self.query_one("#people-results", OptionList)
        results.set_options(
            Option(self._prompt(person), id=str(index)) for index, person in enumerate(self._shown)
        )
        status = self.query_one("#people-status", Static)
        if not self._people:
            status.update("Nobody else is on this server yet.")
        elif not self._shown:
            status.update("No one matches.")
        else:
            status.update(f"{len(self._shown)} of {len(self._people)}")
            results.highlighted = 0

    @staticmethod
    def _prompt(person: Contact) -> Content:
        parts: list[str | tuple[str, str]] = [
            ("● " if person.online else "○ ", "$success" if person.online else "$text-muted"),
            one_line(person.display_name, 40),
        ]
        if person.at_name:
            parts.append((f"  @{one_line(person.at_name, 30)}", "$text-muted"))
        if person.email:
            parts.append((f"  {one_line(person.email, 40)}", "$text-muted"))
        return Content.assemble(*parts)

    def action_move(self, delta: int) -> None:
        results = self.query_one("#people-results", OptionList)
        if not self._shown:
            return
        current = results.highlighted if results.highlighted is not None else -1
        results.highlighted = max(0, min(len(self._shown) - 1, current + delta))

    @on(Input.Submitted, "#people-query")
    def _submitted(self) -> None:
        results = self.query_one("#people-results", OptionList)
        if results.highlighted is not None and self._shown:
            self.dismiss(self._shown[results.highlighted])

    @on(OptionList.OptionSelected, "#people-results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._shown[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)

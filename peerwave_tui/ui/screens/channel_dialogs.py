"""Dialogs for channels: create one (name, description, public or private), and join
one of the server's public channels (filtered as you type)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from peerwave_tui.errors import PeerwaveError
from peerwave_tui.models import Channel
from peerwave_tui.ui.format import one_line

log = logging.getLogger(__name__)

MAX_NAME = 100


@dataclass(frozen=True)
class NewChannel:
    name: str
    description: str
    private: bool


class CreateChannelDialog(ModalScreen[NewChannel | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, server_name: str) -> None:
        super().__init__()
        self._server = server_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog dialog-wide", id="create-channel"):
            yield Label(
                f"New channel on {one_line(self._server, 40)}", classes="dialog-title", markup=False
            )
            yield Input(placeholder="Name", max_length=MAX_NAME, id="channel-name")
            yield Input(placeholder="Description (optional)", id="channel-description")
            yield Checkbox("Private (only members can add people)", id="channel-private")
            yield Static("", id="channel-error", classes="dialog-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Create", variant="primary", id="create")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#channel-error", Static).display = False
        self.query_one("#channel-name", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def _create(self) -> None:
        name = self.query_one("#channel-name", Input).value.strip()
        if not name:
            error = self.query_one("#channel-error", Static)
            error.update("A channel needs a name.")
            error.display = True
            self.query_one("#channel-name", Input).focus()
            return
        self.dismiss(
            NewChannel(
                name,
                self.query_one("#channel-description", Input).value.strip(),
                self.query_one("#channel-private", Checkbox).value,
            )
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def channel_matches(channel: Channel, query: str) -> bool:
    needle = query.strip().casefold().removeprefix("#")
    return (
        not needle or needle in channel.name.casefold() or needle in channel.description.casefold()
    )


class JoinChannelScreen(ModalScreen[Channel | None]):
    """The server's public channels we are not in; Enter joins the highlighted one."""

    BINDINGS = [
        Binding("escape", "cancel", "Close", show=False),
        Binding("down", "move(1)", show=False, priority=True),
        Binding("up", "move(-1)", show=False, priority=True),
    ]

    def __init__(
        self, load_channels: Callable[[], Awaitable[list[Channel]]], server_name: str
    ) -> None:
        super().__init__()
        self._load_channels = load_channels
        self._server = server_name
        self._channels: list[Channel] = []
        self._shown: list[Channel] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog dialog-wide", id="join-channel"):
            yield Label(
                f"Join a channel on {one_line(self._server, 40)}",
                classes="dialog-title",
                markup=False,
            )
            yield Input(placeholder="Channel name…", id="channel-query")
            yield Static(
                "Loading channels…", id="channel-status", classes="dialog-hint", markup=False
            )
            yield OptionList(id="channel-results")

    def on_mount(self) -> None:
        self.query_one("#channel-query", Input).focus()
        self.run_worker(self._load(), group="channels", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        status = self.query_one("#channel-status", Static)
        try:
            found = await self._load_channels()
        except PeerwaveError as exc:
            status.update(str(exc))
            status.add_class("dialog-error")
            return
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            log.error("loading channels failed: %s", type(exc).__name__)
            status.update("The channel list could not be loaded; details are in the log.")
            status.add_class("dialog-error")
            return
        self._channels = sorted(
            (c for c in found if not c.member), key=lambda c: (c.name.casefold(), c.channel_id)
        )
        self._show(self.query_one("#channel-query", Input).value)

    @on(Input.Changed, "#channel-query")
    def _changed(self, event: Input.Changed) -> None:
        self._show(event.value)

    def _show(self, query: str) -> None:
        self._shown = [c for c in self._channels if channel_matches(c, query)]
        results = self.query_one("#channel-results", OptionList)
        results.set_options(
            Option(self._prompt(c), id=str(index)) for index, c in enumerate(self._shown)
        )
        status = self.query_one("#channel-status", Static)
        if not self._channels:
            status.update("No public channel to join on this server.")
        elif not self._shown:
            status.update("No channel matches.")
        else:
            status.update(f"{len(self._shown)} of {len(self._channels)}")
            results.highlighted = 0

    @staticmethod
    def _prompt(channel: Channel) -> Content:
        parts: list[str | tuple[str, str]] = [("# ", "$text-muted"), one_line(channel.name, 40)]
        if channel.description:
            parts.append((f"  {one_line(channel.description, 50)}", "$text-muted"))
        return Content.assemble(*parts)

    def action_move(self, delta: int) -> None:
        results = self.query_one("#channel-results", OptionList)
        if not self._shown:
            return
        current = results.highlighted if results.highlighted is not None else -1
        results.highlighted = max(0, min(len(self._shown) - 1, current + delta))

    @on(Input.Submitted, "#channel-query")
    def _submitted(self) -> None:
        results = self.query_one("#channel-results", OptionList)
        if results.highlighted is not None and self._shown:
            self.dismiss(self._shown[results.highlighted])

    @on(OptionList.OptionSelected, "#channel-results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._shown[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)

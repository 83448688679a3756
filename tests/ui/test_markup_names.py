"""Names chosen by peers and servers are text, never Textual markup.

A contact called "Mal[/]ory" once ended the app when the palette listed it or a toast
named it: Textual reads strings as markup by default, and "[/]" with nothing open is
an error (while "[@click=app.quit]" would be an action).
"""

from __future__ import annotations

from textual.command import CommandPalette
from textual.widgets import Button, Label

from peerwave_tui.ui.commands import ServerCommands
from peerwave_tui.ui.screens.confirm import ConfirmDialog
from tests.ui.conftest import click, started, until

CONTACT = "Mal[/]ory [b]bold[/b] [@click=app.quit]x[/]"
SERVER = "Evil[/] [i]server"


async def test_markup_in_names_is_shown_as_typed(build_app, memory) -> None:
    account = memory.add_account(SERVER, port=3001)
    memory.add_conversation(account, "u-mal", CONTACT, unread=1, minutes=5, messages=2)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)

        # The palette lists the contact and the server, on discovery and on search.
        await pilot.press("ctrl+p")
        palette = await until(pilot, lambda: isinstance(app.screen, CommandPalette) and app.screen)
        await pilot.press(*"mal")
        await until(
            pilot,
            lambda: any(
                "Mal[/]ory" in str(palette.query_one("CommandList").get_option_at_index(i).prompt)
                for i in range(palette.query_one("CommandList").option_count)
            ),
            "the contact, as typed, among the hits",
        )
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main)

        # Toasts name peers (a new device, an identity change): shown as plain text.
        app.main.notify(f"{CONTACT} has a new device.", timeout=5)
        await until(
            pilot,
            lambda: any(n.message.startswith(CONTACT) and not n.markup for n in app._notifications),
        )
        await pilot.pause()

        # The remove dialog names the server.
        servers = ServerCommands(app.screen)
        run = next(r for text, _h, r in servers.commands() if text.startswith("Remove server"))
        app.call_later(run)
        confirm = await until(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen)
        title = confirm.query_one(".dialog-title", Label)
        assert "Evil[/]" in str(title.render())
        await click(pilot, confirm.query_one("#cancel", Button))
        await until(pilot, lambda: app.screen is app.main)
        assert app.is_running  # nothing above ended the app

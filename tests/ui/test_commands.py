"""The command palette and its providers; what happens on an unexpected error."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette
from textual.widgets import Button, TextArea

from peerwave_tui.settings import Settings
from peerwave_tui.ui.commands import (
    ActionCommands,
    ConversationCommands,
    ServerCommands,
)
from peerwave_tui.ui.screens.confirm import ConfirmDialog
from peerwave_tui.ui.screens.magic_key import MagicKeyDialog
from peerwave_tui.ui.screens.wizard import AddServerWizard
from tests.ui.conftest import click, started, until
from tests.ui.worlds import three_servers


def _command(provider, prefix: str):
    for text, _help, run in provider.commands():
        if text.startswith(prefix):
            return run
    raise AssertionError(f"no command {prefix!r} in {[c[0] for c in provider.commands()]}")


async def test_ctrl_p_opens_the_palette_with_the_composer_focused(build_app, memory) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(world.alpha.account_id, "u-alice")
        await until(pilot, lambda: app.focused is app.main.active_pane.composer)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"magic key beta")
        await until(
            pilot,
            lambda: (
                "Generate magic key: Beta"
                in str(app.screen.query_one("CommandList").get_option_at_index(0).prompt)
            ),
        )
        await pilot.press("enter")
        dialog = await until(pilot, lambda: isinstance(app.screen, MagicKeyDialog) and app.screen)
        assert dialog.query_one("#magic-key", TextArea).text == "pwmk-" + "A" * 40
        assert memory.called("magic_key") == [("magic_key", world.beta.account_id)]


async def test_server_commands_add_and_remove(build_app, memory) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        servers = ServerCommands(app.screen)
        texts = [text for text, _help, _run in servers.commands()]
        assert "Add server" in texts and "Unlock" not in texts  # nothing is locked
        app.call_later(_command(servers, "Remove server: Gamma"))
        confirm = await until(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen)
        await click(pilot, confirm.query_one("#cancel", Button))
        await until(pilot, lambda: app.screen is app.main)
        assert not memory.called("remove_account")
        app.call_later(_command(servers, "Remove server: Gamma"))
        confirm = await until(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen)
        await click(pilot, confirm.query_one("#confirm", Button))
        await until(pilot, lambda: world.gamma.account_id not in app.main.server_tabs.account_ids())
        assert memory.called("remove_account") == [("remove_account", world.gamma.account_id)]
        app.call_later(_command(servers, "Add server"))
        wizard = await until(pilot, lambda: isinstance(app.screen, AddServerWizard) and app.screen)
        await until(
            pilot,
            lambda: (
                wizard.step == "step-url" and app.focused is not None and app.focused.id == "url"
            ),
            "the wizard asks for a URL",
        )


async def test_mute_and_notification_commands_persist(build_app, memory, paths) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(world.alpha.account_id, "u-bob")
        app.call_later(_command(ConversationCommands(app.screen), "Mute conversation"))
        app.call_later(_command(ServerCommands(app.screen), "Mute server: Beta"))
        app.call_later(_command(ActionCommands(app.screen), "Show message text"))
        app.call_later(_command(ActionCommands(app.screen), "Turn notifications off"))
        await pilot.pause()
        saved = Settings.load(paths.config_file)
        assert saved.muted_conversations == [f"{world.alpha.account_id}|u-bob"]
        assert saved.muted_servers == [world.beta.account_id]
        assert saved.notifications.show_text and not saved.notifications.enabled
        conversation_commands = [
            text for text, _h, _r in ConversationCommands(app.screen).commands()
        ]
        assert "Unmute conversation" in conversation_commands
        assert "Open: Dave (Gamma)" in conversation_commands
        text = paths.config_file.read_text()
        assert "Bob" not in text and "Alice" not in text  # ids only, never names


async def test_an_unexpected_error_leaves_one_line_not_a_traceback(
    build_app, memory, capsys, caplog
) -> None:
    three_servers(memory)
    app = build_app()

    def boom() -> None:
        raise RuntimeError("private message text")

    with pytest.raises(RuntimeError):
        async with app.run_test(size=(120, 36)) as pilot:
            await started(app, pilot)
            app.call_later(boom)
            await pilot.pause()
    err = capsys.readouterr().err
    assert "an unexpected error occurred" in err
    assert "Traceback" not in err and "private message text" not in err
    assert any(record.exc_info for record in caplog.records if record.name == "peerwave_tui.ui.app")
    assert app.return_code == 1

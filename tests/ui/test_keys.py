"""App-wide keys: they work with the composer focused, and a typed '£' still arrives.

The flows these keys drive (tab switching, Alt+A, Ctrl+K) run against the real manager in
``test_demo.py``; the real terminal is ``tests/e2e/test_tmux.py``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from peerwave_tui.ui.keys import APP_KEYS, keys_for
from peerwave_tui.ui.screens.help import HelpScreen
from peerwave_tui.ui.screens.new_conversation import NewConversationScreen
from peerwave_tui.ui.screens.quick_switcher import QuickSwitcher
from peerwave_tui.ui.widgets.composer import Composer
from tests.ui.conftest import feed_terminal, started, until
from tests.ui.worlds import three_servers


def test_textual_escape_digit_table_is_as_expected_and_the_fix_gives_alt_digits() -> None:
    """Fails when a Textual upgrade changes the private table the fix edits."""
    script = textwrap.dedent(
        """
        from textual import _ansi_sequences
        from textual._xterm_parser import XTermParser
        from peerwave_tui.ui.keys import fix_escape_digit_keys

        table = _ansi_sequences.ANSI_SEQUENCES_KEYS
        assert isinstance(table, dict), type(table)
        expected = dict(zip("1234567890", "¡™£¢∞§¶•ªº"))
        for digit, symbol in expected.items():
            assert table.get("\\x1b" + digit) == symbol, (digit, table.get("\\x1b" + digit))
        assert fix_escape_digit_keys() == 10
        assert fix_escape_digit_keys() == 0  # idempotent
        assert not any(("\\x1b" + d) in table for d in "0123456789")

        def keys(data):
            parser = XTermParser()
            events = list(parser.feed(data)) + list(parser.feed(""))
            return [(e.key, e.character) for e in events if hasattr(e, "key")]

        assert keys("\\x1b2") == [("alt+2", "2")], keys("\\x1b2")
        assert keys("\\x1b9") == [("alt+9", "9")], keys("\\x1b9")
        assert keys("£5") == [("pound_sign", "£"), ("5", "5")], keys("£5")
        assert keys("\\x1ba") == [("alt+a", "a")], keys("\\x1ba")
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_every_app_key_is_a_priority_binding_with_an_id(build_app) -> None:
    app = build_app()
    bindings = {binding.id: binding for _key, binding in app._bindings if binding.id}
    for key in APP_KEYS:
        binding = bindings[key.id]
        assert binding.priority, key.id
        assert binding.key == key.keys
    assert {key.id for key in APP_KEYS} >= {
        "goto_tab_1",
        "goto_tab_9",
        "next_tab",
        "previous_tab",
        "quick_switcher",
        "next_unread",
        "new_conversation",
        "command_palette",
        "help",
        "quit",
    }


async def _focused_composer(app, pilot, account, conversation_id) -> Composer:
    await started(app, pilot)
    app.main.open_conversation(account.account_id, conversation_id)
    composer = app.main.active_pane.composer
    await until(pilot, lambda: app.focused is composer, "composer focus")
    return composer


async def test_a_typed_pound_sign_reaches_the_composer(build_app, memory) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        composer = await _focused_composer(app, pilot, world.alpha, "u-alice")
        await feed_terminal(app, pilot, "£5 ™¡")  # typed symbols, as the terminal sends them
        await until(pilot, lambda: composer.text == "£5 ™¡", "typed text")
        assert app.main.server_tabs.active_account_id == world.alpha.account_id


async def test_escape_digit_from_the_terminal_switches_tabs_with_the_composer_focused(
    build_app, memory
) -> None:
    """What tmux and xterm send for Alt+2 (ESC 2) is a tab switch, not a '™' in the draft."""
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        composer = await _focused_composer(app, pilot, world.alpha, "u-alice")
        await feed_terminal(app, pilot, "hi")
        await feed_terminal(app, pilot, "\x1b2")
        await until(pilot, lambda: app.main.server_tabs.active_account_id == world.beta.account_id)
        await feed_terminal(app, pilot, "\x1b1")
        await until(pilot, lambda: app.main.server_tabs.active_account_id == world.alpha.account_id)
        assert composer.text == "hi"
        await feed_terminal(app, pilot, "\x1ba")  # Alt+A: next unread (Carol on Beta)
        await until(pilot, lambda: app.main.active_pane.conversation_id == "u-carol")


async def test_ctrl_n_filters_people_as_you_type_and_opens_a_conversation(
    build_app, memory
) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await _focused_composer(app, pilot, world.beta, "u-carol")
        await pilot.press("ctrl+n")
        screen = await until(
            pilot, lambda: isinstance(app.screen, NewConversationScreen) and app.screen
        )
        await until(pilot, lambda: len(screen._shown) == 3, "people loaded")
        await until(pilot, lambda: app.focused is not None and app.focused.id == "people-query")
        await pilot.press(*"navy")  # e-mail
        await until(pilot, lambda: [p.user_id for p in screen._shown] == ["u-grace"])
        for _ in range(4):
            await pilot.press("backspace")
        await pilot.press("@", "f", "f")  # @name
        await until(pilot, lambda: [p.user_id for p in screen._shown] == ["u-frank"])
        await pilot.press("enter")
        await until(pilot, lambda: app.main.active_pane.conversation_id == "u-frank")
        assert memory.called("people") == [("people", world.beta.account_id)]
        assert memory.called("open_conversation") == [
            ("open_conversation", world.beta.account_id, "u-frank")
        ]
        assert "u-frank" in app.main.active_pane.conversation_list.order


async def test_keymap_from_config_remaps_bindings(build_app, memory, settings) -> None:
    world = three_servers(memory)
    settings.keymap = {"quick_switcher": "ctrl+o", "goto_tab_2": "f2", "no_such_binding": "f9"}
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        composer = await _focused_composer(app, pilot, world.alpha, "u-alice")
        await pilot.press("f2")
        await until(pilot, lambda: app.main.server_tabs.active_account_id == world.beta.account_id)
        await pilot.press("alt+2")  # the old key no longer switches (it is unbound now)
        await pilot.press("alt+1")
        await until(pilot, lambda: app.main.server_tabs.active_account_id == world.alpha.account_id)
        await until(pilot, lambda: app.focused is composer)
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert not isinstance(app.screen, QuickSwitcher)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, QuickSwitcher))
        assert keys_for("quick_switcher", settings.keymap) == "ctrl+o"


async def test_f1_shows_help_with_the_current_keys_and_ctrl_q_quits(
    build_app, memory, settings
) -> None:
    world = three_servers(memory)
    settings.keymap = {"next_unread": "alt+u"}
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _focused_composer(app, pilot, world.alpha, "u-alice")
        await pilot.press("f1")
        help_screen = await until(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen)
        table = help_screen.query_one("#help-keys")
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert ["alt+u", "Next conversation with unread messages", "next_unread"] in rows
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main)
        await pilot.press("ctrl+q")
        await until(pilot, lambda: memory.closed, "manager closed")
    assert app.return_code == 0


async def test_at_start_the_conversation_list_has_focus_and_enter_opens_one(
    build_app, memory
) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        pane = app.main.active_pane
        await until(pilot, lambda: app.focused is pane.conversation_list, "list focused")
        await until(pilot, lambda: pane.conversation_list.option_count == 2, "listed")
        await feed_terminal(app, pilot, "\r")  # Enter opens the highlighted (newest) one
        await until(pilot, lambda: pane.conversation_id == "u-alice")
        await until(pilot, lambda: app.focused is pane.composer)
        assert app.main.server_tabs.active_account_id == world.alpha.account_id

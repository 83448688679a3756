"""Snapshot tests (SVG, under tests/__snapshots__/). Update with --snapshot-update after
checking the new pictures by eye."""

from __future__ import annotations

from textual.widgets import Input, TextArea

from peerwave_tui.models import ServerMeta
from peerwave_tui.ui.screens.identity_change import IdentityChangeDialog
from peerwave_tui.ui.screens.quick_switcher import QuickSwitcher
from peerwave_tui.ui.screens.safety_number import SafetyNumberScreen
from peerwave_tui.ui.screens.wizard import AddServerWizard
from tests.ui.conftest import feed_terminal, started, until
from tests.ui.memory_manager import MemoryManager
from tests.ui.worlds import three_servers

SIZE = (120, 36)


def _steady(app) -> None:
    """No blinking cursors: the picture must not depend on when it is taken."""
    for screen in app.screen_stack:
        for widget in screen.query("TextArea, Input"):
            assert isinstance(widget, TextArea | Input)
            widget.cursor_blink = False


def _world(memory: MemoryManager):
    world = three_servers(memory)
    memory.convs[world.gamma.account_id]["u-dave"].mentions = 1
    memory.convs[world.gamma.account_id]["u-dave"].unread = 1
    memory.states[world.gamma.account_id] = (memory.states[world.gamma.account_id][0], None)
    return world


async def _main_with_alice(app, pilot, memory, world) -> None:
    await started(app, pilot)
    app.main.open_conversation(world.alpha.account_id, "u-alice")
    pane = app.main.active_pane
    await until(pilot, lambda: pane.message_view.messages)
    await feed_terminal(app, pilot, "sending now")
    await pilot.press("enter")
    await until(pilot, lambda: pane.message_view.messages[-1].text == "sending now")
    _steady(app)


def test_main_screen(snap_compare, build_app, memory) -> None:
    world = _world(memory)

    async def run_before(pilot) -> None:
        await _main_with_alice(pilot.app, pilot, memory, world)

    assert snap_compare(build_app(), terminal_size=SIZE, run_before=run_before)


def test_main_screen_light_theme(snap_compare, build_app, memory, settings) -> None:
    world = _world(memory)
    settings.theme = "peerwave-light"

    async def run_before(pilot) -> None:
        await _main_with_alice(pilot.app, pilot, memory, world)

    assert snap_compare(build_app(), terminal_size=SIZE, run_before=run_before)


def test_quick_switcher(snap_compare, build_app, memory) -> None:
    world = _world(memory)

    async def run_before(pilot) -> None:
        app = pilot.app
        await _main_with_alice(app, pilot, memory, world)
        await pilot.press("ctrl+k")
        switcher = await until(pilot, lambda: isinstance(app.screen, QuickSwitcher) and app.screen)
        await until(pilot, lambda: app.focused is not None and app.focused.id == "switcher-query")
        await pilot.press("c", "a")
        await until(pilot, lambda: len(switcher._shown) == 2)
        _steady(app)

    assert snap_compare(build_app(), terminal_size=SIZE, run_before=run_before)


def test_add_server_wizard(snap_compare, build_app, memory) -> None:
    url = "http://127.0.0.1:3005"
    memory.servers[url] = ServerMeta(url, "Example Chat", "1.4.4", "open")

    async def run_before(pilot) -> None:
        app = pilot.app
        await started(app, pilot)
        wizard = await until(pilot, lambda: isinstance(app.screen, AddServerWizard) and app.screen)
        wizard.query_one("#url", Input).value = url
        await pilot.press("enter")
        await until(pilot, lambda: wizard.step == "step-choose")
        _steady(app)

    assert snap_compare(build_app(), terminal_size=SIZE, run_before=run_before)


def test_safety_number_screen(snap_compare, build_app, memory) -> None:
    world = _world(memory)

    async def run_before(pilot) -> None:
        app = pilot.app
        await _main_with_alice(app, pilot, memory, world)
        app.main.show_safety_number()
        await until(pilot, lambda: isinstance(app.screen, SafetyNumberScreen))
        _steady(app)

    assert snap_compare(build_app(), terminal_size=SIZE, run_before=run_before)


def test_identity_change_dialog(snap_compare, build_app, memory) -> None:
    world = _world(memory)

    async def run_before(pilot) -> None:
        app = pilot.app
        await _main_with_alice(app, pilot, memory, world)
        memory.change_identity(world.alpha, "u-alice")
        await until(
            pilot,
            lambda: app.main.tabs[world.alpha.account_id].conversations["u-alice"].identity_blocked,
        )
        app.clear_notifications()
        await feed_terminal(app, pilot, "are we safe?")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, IdentityChangeDialog))
        _steady(app)

    assert snap_compare(build_app(), terminal_size=SIZE, run_before=run_before)

"""``peerwave-tui demo`` in Pilot: two real dev servers (child processes), the real
manager with throwaway keys, and the echo contacts Nora and Sol."""

from __future__ import annotations

import asyncio

from textual.widgets import Input

from peerwave_tui.demo import THROWAWAY_NOTE
from peerwave_tui.models import ConnectionState, MessageStatus
from peerwave_tui.ui.screens.quick_switcher import QuickSwitcher
from peerwave_tui.ui.screens.unlock import UnlockScreen
from tests.ui.conftest import feed_terminal, screen_text, started, until
from tests.ui.real import demo_app, has_text, label, screen_line, user_contact

SIZE = (120, 40)


async def _chat_with(app, pilot, text: str) -> None:
    """Type into the focused composer and send."""
    await feed_terminal(app, pilot, text)
    await pilot.press("enter")


async def test_the_demo_paints_at_once_then_opens_nora_and_she_answers(tmp_path, settings) -> None:
    app, environment = demo_app(tmp_path / "demo", settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # The first paint does not wait for the servers: their progress is on screen.
        assert not app.started.is_set()
        assert app.main.progress is not None
        assert app.main.progress in screen_text(app)
        await started(app, pilot)
        assert app.main.progress is None
        north, south = (tab.account_id for tab in app.main.tab_order())
        assert [app.main.tabs[a].name for a in (north, south)] == ["Demo North", "Demo South"]
        pane = app.main.active_pane
        assert pane.account_id == north
        assert pane.conversation is not None and pane.conversation.title == "Nora"
        await until(pilot, lambda: app.focused is pane.composer, "composer focused")
        assert THROWAWAY_NOTE.split(" · ")[0] in screen_text(app)
        assert "throwaway keys held in memory" in screen_text(app)
        await until(
            pilot,
            lambda: app.main.tabs[north].state is ConnectionState.CONNECTED,
            "connected",
        )

        await _chat_with(app, pilot, "hello Nora £5")
        await until(pilot, has_text(app, "echo: hello Nora £5"), "Nora's answer")
        mine = next(m for m in pane.message_view.messages if m.text == "hello Nora £5")
        # Nora reads before she answers: the mark goes pending → stored → read.
        await until(pilot, lambda: mine.status is MessageStatus.READ, "read mark")
        await until(
            pilot,
            lambda: screen_line(app, "hello Nora £5").rstrip().endswith("✓✓"),
            "✓✓ on screen",
        )
        assert pane.composer.text == ""


async def test_tabs_unread_counts_alt_a_and_ctrl_k_across_both_servers(tmp_path, settings) -> None:
    app, environment = demo_app(tmp_path / "demo", settings)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        north, south = (tab.account_id for tab in app.main.tab_order())
        tabs = app.main.server_tabs
        composer = app.main.active_pane.composer
        await until(pilot, lambda: app.focused is composer)

        await pilot.press("alt+2")  # with the composer focused
        await until(pilot, lambda: tabs.active_account_id == south)
        sol_pane = app.main.active_pane
        assert sol_pane.conversation.title == "Sol"
        await until(pilot, lambda: app.focused is sol_pane.composer)
        assert composer.text == ""  # Alt+2 typed nothing
        await _chat_with(app, pilot, "hi Sol")
        await until(pilot, has_text(app, "echo: hi Sol"), "Sol's answer")
        await pilot.press("ctrl+pageup")
        await until(pilot, lambda: tabs.active_account_id == north)
        await pilot.press("ctrl+pagedown")
        await until(pilot, lambda: tabs.active_account_id == south)
        await pilot.press("alt+1")
        await until(pilot, lambda: tabs.active_account_id == north)

        # Sol writes while the user looks at Nora: Demo South counts it.
        sol = environment.contacts[1]
        you_on_south = next(a for a in app.manager.accounts() if a.account_id == south)
        await sol.say(user_contact(you_on_south), "psst, over here")
        await until(pilot, lambda: label(app, south) == "Demo South ● 1", label(app, south))
        assert label(app, north) == "Demo North ●"
        await pilot.press("alt+a")
        await until(pilot, lambda: tabs.active_account_id == south, "to the unread one")
        await until(pilot, has_text(app, "psst, over here"))
        await until(pilot, lambda: label(app, south) == "Demo South ●", "read now")
        await pilot.press("alt+a")  # nothing unread any more
        await until(pilot, lambda: "Nothing unread." in [n.message for n in app._notifications])

        pane = app.main.active_pane
        await pilot.press("x", "y", "z", "left", "left")  # in a TextArea ctrl+k deletes to EOL
        await pilot.press("ctrl+k")
        switcher = await until(
            pilot, lambda: isinstance(app.screen, QuickSwitcher) and app.screen, "switcher"
        )
        assert sorted((e.title, e.server_name) for e in switcher._shown) == [
            ("#Nora's lounge", "Demo North"),
            ("#Sol's lounge", "Demo South"),
            ("Nora", "Demo North"),
            ("Sol", "Demo South"),
        ]
        await until(pilot, lambda: app.focused is not None and app.focused.id == "switcher-query")
        assert pane.composer.text == "xyz"  # the composer's own ctrl+k did not run
        await pilot.press("n", "o", "r")
        await until(
            pilot,
            lambda: sorted(e.title for e in switcher._shown) == ["#Nora's lounge", "Nora"],
        )
        for _ in range([e.title for e in switcher._shown].index("Nora")):
            await pilot.press("down")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is app.main and tabs.active_account_id == north)
        await until(pilot, lambda: app.focused is app.main.active_pane.composer)
        assert app.main.active_pane.conversation.title == "Nora"


async def test_quitting_stops_the_manager_the_contacts_and_both_servers(tmp_path, settings) -> None:
    app, environment = demo_app(tmp_path / "demo", settings)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        servers = list(environment.servers)
        contacts = list(environment.contacts)
        assert len(servers) == 2 and all(s.pid for s in servers)
        await pilot.press("ctrl+q")
        await until(pilot, lambda: app._close_task is not None and app._close_task.done())
    assert app.return_code == 0
    for server in servers:
        assert server._proc is not None and server._proc.returncode is not None
    assert environment.contacts == []
    for contact in contacts:
        assert contact.task is not None and contact.task.done()
    assert app.manager.connection_state(app.manager.accounts()[0].account_id)[0] is (
        ConnectionState.CLOSED
    )


async def test_quitting_while_the_demo_is_still_starting_stops_what_started(
    tmp_path, settings
) -> None:
    app, environment = demo_app(tmp_path / "demo", settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: environment.servers, "servers starting")
        await pilot.press("ctrl+q")
        await asyncio.wait_for(app._close_task, 30)
    for server in environment.servers:
        assert server._proc is None or server._proc.returncode is not None
    assert environment.contacts == []


async def test_a_kept_demo_reopens_after_the_unlock_screen_with_its_history(
    tmp_path, settings
) -> None:
    """``demo --home DIR``: the normal key custody (passphrase mode here); the second run
    finds the saved accounts locked, asks on the unlock screen, then opens on Nora."""
    home = tmp_path / "kept"
    app, _environment = demo_app(home, settings, kept=True, passphrase="demo passphrase")
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        assert app.main.progress is None
        await until(pilot, lambda: app.focused is app.main.active_pane.composer)
        await _chat_with(app, pilot, "remember me")
        await until(pilot, has_text(app, "echo: remember me"), "Nora's answer")
        await pilot.press("ctrl+q")

    app, environment = demo_app(home, settings, kept=True, passphrase=None)
    async with app.run_test(size=SIZE) as pilot:
        # The screen is on the stack before it is composed: wait for its input.
        screen = await until(
            pilot,
            lambda: (
                isinstance(app.screen, UnlockScreen)
                and app.screen.query("#passphrase")
                and app.screen
            ),
            "unlock",
            60,
        )
        assert not app.started.is_set()  # the demo waits for its accounts
        screen.query_one("#passphrase", Input).value = "demo passphrase"
        await pilot.press("enter")
        await started(app, pilot)
        assert app.main.progress is None
        pane = app.main.active_pane
        assert pane.conversation is not None and pane.conversation.title == "Nora"
        await until(pilot, has_text(app, "echo: remember me"), "the kept history")
        await until(pilot, lambda: app.focused is pane.composer)
        await _chat_with(app, pilot, "back again")
        await until(pilot, has_text(app, "echo: back again"), "Nora still answers")

"""Server tabs: unread counts, mentions, connection state and the status line."""

from __future__ import annotations

from datetime import timedelta

from peerwave_tui import events as ev
from peerwave_tui.models import ConnectionState, utc_now
from peerwave_tui.ui.widgets.server_tabs import tab_label
from tests.ui.conftest import started, until
from tests.ui.worlds import three_servers


def _label(app, account) -> str:
    return tab_label(app.main.tabs[account.account_id]).plain


async def test_unread_counts_and_mentions_show_on_tabs_and_clear_when_read(
    build_app, memory
) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(world.alpha.account_id, "u-alice")
        await until(pilot, lambda: _label(app, world.beta) == "Beta ● 2", _label(app, world.beta))
        assert _label(app, world.alpha) == "Alpha ●"
        memory.deliver(world.gamma, "u-dave", "psst @me", mention=True)
        memory.deliver(world.alpha, "u-bob", "hi")
        await until(
            pilot, lambda: _label(app, world.gamma) == "Gamma ● 1@", _label(app, world.gamma)
        )
        await until(pilot, lambda: _label(app, world.alpha) == "Alpha ● 1")
        bob_row = app.main.server_tabs.pane_for(world.alpha.account_id).conversation_list
        # Most recent activity first (the list is redrawn on its own schedule, which
        # may come a frame after the tab's count).
        await until(pilot, lambda: bob_row.order[0] == "u-bob", "Bob first in the list")
        # A message in the conversation being looked at is read at once.
        memory.deliver(world.alpha, "u-alice", "you are looking at me")
        await until(pilot, lambda: memory.called("mark_read"), "mark_read")
        assert memory.called("mark_read")[-1] == ("mark_read", world.alpha.account_id, "u-alice")
        await until(pilot, lambda: _label(app, world.alpha) == "Alpha ● 1")  # Bob still unread
        app.main.open_conversation(world.gamma.account_id, "u-dave")
        await until(pilot, lambda: _label(app, world.gamma) == "Gamma ●")


async def test_a_tab_draws_each_new_count_whether_or_not_its_width_changes(
    build_app, memory
) -> None:
    """A count of the same width is redrawn without laying the screen out again (a
    drain changes it many times a second); a wider one moves the tabs after it."""
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(world.alpha.account_id, "u-alice")
        beta = app.main.server_tabs.tab_for(world.beta.account_id)
        gamma = app.main.server_tabs.tab_for(world.gamma.account_id)
        assert beta is not None and gamma is not None

        def drawn() -> str:
            return beta.visual.plain  # type: ignore[attr-defined]

        await until(pilot, lambda: drawn() == "Beta ● 2", drawn)
        width, gamma_x = beta.region.width, gamma.region.x
        memory.deliver(world.beta, "u-carol", "three")
        await until(pilot, lambda: drawn() == "Beta ● 3", drawn)
        assert beta.label.plain == "Beta ● 3"
        await pilot.pause()
        assert (beta.region.width, gamma.region.x) == (width, gamma_x)
        for n in range(7):
            memory.deliver(world.beta, "u-carol", f"more {n}")
        await until(pilot, lambda: drawn() == "Beta ● 10", drawn)
        await until(pilot, lambda: gamma.region.x == gamma_x + 1, "gamma moved right")
        assert beta.region.width == width + 1


async def test_connection_states_show_in_tabs_and_the_status_line_counts_down(
    build_app, memory
) -> None:
    world = three_servers(memory)
    clock = [utc_now()]
    now = clock[0]
    app = build_app(now=lambda: clock[0])
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        pane = app.main.server_tabs.pane_for(world.beta.account_id)
        memory.set_connection(
            world.beta,
            ConnectionState.OFFLINE,
            "Cannot reach the server.",
            retry_at=now + timedelta(seconds=75),
        )
        await until(pilot, lambda: _label(app, world.beta) == "Beta ○ offline 2")
        text = pane.status_line.text()
        assert "Offline" in text and "Cannot reach the server." in text
        assert "retrying in 1 min 15 s" in text
        assert pane.status_line.counting_down
        clock[0] = now + timedelta(seconds=10)  # the 1 s timer redraws the countdown
        await until(
            pilot,
            lambda: (
                "retrying in 1 min 05 s" in pane.status_line.text()
                and "1 min 05 s" in str(pane.status_line.render())
            ),
            "countdown",
        )
        clock[0] = now + timedelta(seconds=80)  # the retry is due: nothing counts down
        await until(pilot, lambda: not pane.status_line.counting_down, "countdown over")
        assert "retrying in 0 s" in pane.status_line.text()
        memory.set_connection(world.beta, ConnectionState.CONNECTING)
        memory.set_connection(world.beta, ConnectionState.CONNECTED)
        await until(pilot, lambda: _label(app, world.beta) == "Beta ● 2")
        assert not pane.status_line.counting_down
        assert pane.status_line.text() == "● Connected"
        memory.set_connection(world.gamma, ConnectionState.ERROR, "The session was revoked.")
        await until(pilot, lambda: _label(app, world.gamma) == "Gamma ✕ error")
        gamma = app.main.server_tabs.pane_for(world.gamma.account_id)
        assert "The session was revoked." in gamma.status_line.text()


async def test_backlog_and_key_generation_progress_show_in_the_status_line(
    build_app, memory
) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        status = app.main.server_tabs.pane_for(world.alpha.account_id).status_line
        for count in range(0, 260, 10):
            memory.emit(ev.BacklogProgress(world.alpha.account_id, count))
        await until(pilot, lambda: "receiving pending messages… 250" in status.text())
        memory.emit(ev.BacklogProgress(world.alpha.account_id, 257, done=True))
        await until(pilot, lambda: "received 257 pending messages" in status.text())
        memory.emit(ev.KeyGenerationProgress(world.alpha.account_id))
        await until(pilot, lambda: "generating keys…" in status.text())
        memory.emit(ev.KeyGenerationProgress(world.alpha.account_id, done=True))
        await until(pilot, lambda: "generating keys…" not in status.text())


async def test_presence_and_errors_reach_the_screen(build_app, memory) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        conv = app.main.tabs[world.alpha.account_id].conversations["u-bob"]
        assert not conv.online
        memory.emit(ev.PresenceChanged(world.alpha.account_id, "u-bob", True))
        await until(
            pilot, lambda: app.main.tabs[world.alpha.account_id].conversations["u-bob"].online
        )
        memory.emit(ev.ErrorRaised(world.alpha.account_id, "The server rejected a message.", True))
        await until(
            pilot,
            lambda: any(
                n.message == "The server rejected a message." and n.severity == "error"
                for n in app._notifications
            ),
        )


async def test_accounts_added_and_removed_by_the_core_come_and_go_as_tabs(
    build_app, memory
) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        delta = memory.add_account("Delta", port=3004)
        memory.emit(ev.AccountAdded(delta.account_id, delta))
        await until(pilot, lambda: len(app.main.server_tabs.account_ids()) == 4)
        memory.emit(ev.AccountRemoved(world.beta.account_id))
        await until(pilot, lambda: world.beta.account_id not in app.main.server_tabs.account_ids())
        assert app.main.server_tabs.account_ids() == [
            world.alpha.account_id,
            world.gamma.account_id,
            delta.account_id,
        ]


async def test_messages_while_the_terminal_is_unfocused_stay_unread_until_it_returns(
    build_app, memory
) -> None:
    from textual import events

    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(world.alpha.account_id, "u-alice")
        await pilot.pause()
        app.post_message(events.AppBlur())
        await until(pilot, lambda: not app.app_focus)
        memory.deliver(world.alpha, "u-alice", "while you were away")
        await until(pilot, lambda: _label(app, world.alpha) == "Alpha ● 1")
        assert not memory.called("mark_read")
        app.post_message(events.AppFocus())
        await until(pilot, lambda: memory.called("mark_read"), "read on return")
        await until(pilot, lambda: _label(app, world.alpha) == "Alpha ●")

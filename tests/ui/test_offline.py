"""A server going away and coming back (a dev server child process, killed and started
again on the same port and data): the tab says offline, a message written meanwhile
waits as pending (…) and goes out, marked stored (✓), once the server is back."""

from __future__ import annotations

from peerwave_tui.models import ConnectionState, Direction, KeyMode, MessageStatus
from tests.devserver_fixtures import DevServerProcess
from tests.ui.conftest import feed_terminal, started, until
from tests.ui.real import (
    Peer,
    app_over,
    label,
    peers,
    real_manager,
    register,
    screen_line,
    user_contact,
)

PASSPHRASE = "offline test passphrase"


async def test_offline_then_back_and_pending_becomes_stored(tmp_path, settings) -> None:
    async with DevServerProcess(tmp_path / "srv") as server, peers() as joined:
        await server.start()
        # The account is made by an earlier run (passphrase mode keeps its store).
        first = real_manager(tmp_path / "me", KeyMode.PASSPHRASE, passphrase=PASSPHRASE)
        try:
            me, _codes = await register(first, server, "me@example.org", "Me")
        finally:
            await first.aclose()
        olga = await Peer.join(tmp_path / "olga", server, "olga@example.org", "Olga")
        joined.append(olga)

        manager = real_manager(tmp_path / "me", None, passphrase=PASSPHRASE)
        app = app_over(manager, settings)
        async with app.run_test(size=(120, 36)) as pilot:
            await started(app, pilot)
            tab = app.main.tabs[me.account_id]
            await until(pilot, lambda: tab.state is ConnectionState.CONNECTED, "connected")
            await olga.say(user_contact(me), "are you there?")
            await until(pilot, lambda: olga.account.user_id in tab.conversations, "listed")
            app.main.open_conversation(me.account_id, olga.account.user_id)
            pane = app.main.active_pane
            await until(
                pilot, lambda: any(m.text == "are you there?" for m in pane.message_view.messages)
            )
            await until(pilot, lambda: app.focused is pane.composer)

            server.kill()
            await until(pilot, lambda: tab.state is ConnectionState.OFFLINE, "offline", 60)
            assert label(app, me.account_id).startswith("PeerWave dev server ○ offline")
            assert "Offline" in pane.status_line.text()

            await feed_terminal(app, pilot, "written while offline")
            await pilot.press("enter")
            await until(
                pilot,
                lambda: any(m.text == "written while offline" for m in pane.message_view.messages),
            )
            mine = next(
                m
                for m in pane.message_view.messages
                if m.direction is Direction.OUT and m.text == "written while offline"
            )
            assert mine.status is MessageStatus.PENDING
            await until(
                pilot, lambda: screen_line(app, "written while offline").rstrip().endswith("…")
            )

            await server.restart()
            await until(pilot, lambda: tab.state is ConnectionState.CONNECTED, "back", 60)
            assert label(app, me.account_id) == "PeerWave dev server ●"
            await until(
                pilot,
                lambda: mine.status in (MessageStatus.STORED, MessageStatus.READ),
                "stored",
                60,
            )
            await until(
                pilot,
                lambda: screen_line(app, "written while offline").rstrip().endswith("✓"),
                "✓ on screen",
            )
            await olga.wait_received("written while offline", timeout=60)

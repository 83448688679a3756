"""How the app starts: the first frame is drawn before the manager exists (``peerwave-tui``
builds it after the first paint, in a thread), and a failing start shows, not raises."""

from __future__ import annotations

import asyncio
import threading

from textual.widgets import Static

from peerwave_tui.errors import NoSecureKeyringError
from peerwave_tui.paths import Paths
from peerwave_tui.ui.lazy_manager import LazyManager
from peerwave_tui.ui.screens.keyring_help import KeyringHelpScreen
from peerwave_tui.ui.screens.wizard import AddServerWizard
from tests.ui.conftest import screen_text, started, until
from tests.ui.real import app_over, real_manager


async def test_the_first_frame_does_not_wait_for_the_manager(tmp_path, settings) -> None:
    release = threading.Event()
    built = []

    def build():
        # Stands for the slow import of the client stack: the thread waits for the test.
        assert release.wait(60), "never released"
        manager = real_manager(tmp_path / "me")
        built.append(manager)
        return manager

    lazy = LazyManager(build)
    app = app_over(lazy, settings, Paths.from_home(tmp_path / "me").ensure())
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "Starting…" in screen_text(app), "the first frame")
        assert not built and not app.started.is_set()
        assert lazy.accounts() == []
        release.set()
        await started(app, pilot)
        assert built
        await until(pilot, lambda: isinstance(app.screen, AddServerWizard), "first-run wizard")
        assert "Starting…" not in screen_text(app)
    release.set()
    await asyncio.sleep(0)


async def test_no_keyring_at_start_shows_the_options_and_other_servers_stay(
    build_app, memory
) -> None:
    """The app's answer to a start that fails outright (the in-memory manager is told
    to fail; the real one reports such failures as an account's state)."""
    memory.add_account("Alpha", port=3001)

    async def start() -> None:
        raise NoSecureKeyringError("No secure keyring is available for new stores.")

    memory.start = start  # type: ignore[method-assign]
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        screen = await until(
            pilot, lambda: isinstance(app.screen, KeyringHelpScreen) and app.screen
        )
        text = " ".join(str(w.render()) for w in screen.query(Static))
        assert "No secure keyring is available for new stores." in text
        assert "--key-mode passphrase" in text
        assert len(app.main.server_tabs.account_ids()) == 1  # saved servers still show

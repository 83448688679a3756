"""How the app starts: the first frame is drawn before the manager exists (``peerwave-tui``
builds it after the first paint, in a thread), and a failing start shows, not raises."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

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


# Run in a process of its own: freezing would keep this test process's heap for good.
FREEZE_PROBE = """
import asyncio, gc, sys, tempfile
from pathlib import Path
from peerwave_tui.paths import Paths
from peerwave_tui.settings import Settings
from peerwave_tui.ui.app import make_app
from tests.ui.memory_manager import MemoryManager

async def main(freeze):
    memory = MemoryManager()
    memory.add_account("Alpha", port=3001)
    with tempfile.TemporaryDirectory() as home:
        paths = Paths.from_home(Path(home)).ensure()
        app = make_app(Settings(), paths, manager=memory, env={}, freeze_heap=freeze)
        async with app.run_test(size=(80, 24)) as pilot:
            await asyncio.wait_for(app.started.wait(), 60)
            await pilot.pause()
            print(gc.get_freeze_count())

asyncio.run(main(sys.argv[1] == "freeze"))
"""


async def test_the_real_program_freezes_its_heap_once_started_and_tests_do_not() -> None:
    root = str(Path(__file__).resolve().parents[2])
    counts = {}
    for mode in ("freeze", "keep"):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            FREEZE_PROBE,
            mode,
            cwd=root,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
        counts[mode] = int(out.decode().split()[-1])
    # Everything built by then (Textual, the app) is out of the collector's full passes.
    assert counts["freeze"] > 10_000
    assert counts["keep"] == 0

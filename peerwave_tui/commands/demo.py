"""``peerwave-tui demo``: two local dev servers, a demo contact on each, and the app."""

from __future__ import annotations

import argparse
import os
import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peerwave_tui.cli import Context
    from peerwave_tui.demo import DemoEnvironment
    from peerwave_tui.paths import Paths
    from peerwave_tui.ui.app import PeerwaveApp

DESCRIPTION = """\
Start two development servers on free loopback ports ("Demo North" and "Demo South"),
register you on both, and chat with their demo contacts Nora and Sol, who answer every
message. Without --home the demo lives in a temporary directory that is removed when you
quit, with throwaway keys held in memory (no keyring or passphrase needed). With --home
DIR it is kept in DIR and your keys use the normal key custody (the OS keyring, or a
passphrase: --key-mode passphrase, PEERWAVE_TUI_PASSPHRASE or --passphrase-file).
PEERWAVE_TUI_HOME does not apply to the demo: only an explicit --home keeps it."""


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "demo",
        parents=[parent],
        help="try the app with two local demo servers and contacts who answer",
        description=DESCRIPTION,
    )
    parser.set_defaults(handler=run_demo)


def run_demo(ctx: Context) -> int:
    from peerwave_tui.commands.app import skip_final_collection
    from peerwave_tui.demo import DemoEnvironment, demo_paths

    # Only an explicit --home keeps the demo: PEERWAVE_TUI_HOME names the user's real
    # home, where demo accounts do not belong.
    paths, persistent = demo_paths(getattr(ctx.args, "home", None))
    try:
        # The log stays where logs always go (the --home, or the usual log directory),
        # so the line that points to it after a failure still points to a file.
        ctx.setup_logging()
        environment = DemoEnvironment(paths, persistent=persistent)
        app = _build_app(ctx, paths, persistent, environment)
        try:
            app.run()
        finally:
            environment.kill_remaining()  # only if the app ended without closing it
        return app.return_code or 0
    finally:
        if not persistent and paths.home is not None:
            shutil.rmtree(paths.home, ignore_errors=True)
        skip_final_collection()


def _build_app(
    ctx: Context, paths: Paths, persistent: bool, environment: DemoEnvironment
) -> PeerwaveApp:
    from peerwave_tui.manager import SignalClientManager
    from peerwave_tui.models import KeyMode
    from peerwave_tui.settings import Settings
    from peerwave_tui.storage.custody import KeyCustody
    from peerwave_tui.storage.passphrase import passphrase_source_from
    from peerwave_tui.ui.app import make_app

    if persistent:
        source = passphrase_source_from(
            os.environ, getattr(ctx.args, "passphrase_file", None), interactive=False
        )
        custody = KeyCustody(paths, getattr(ctx.args, "key_mode", None), source)
    else:
        custody = KeyCustody(paths, KeyMode.MEMORY)
    settings = Settings.load(paths.config_file)
    manager = SignalClientManager(paths, custody)
    return make_app(settings, paths, manager=manager, startup=environment, freeze_heap=True)

"""Running ``peerwave-tui`` with no subcommand starts the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peerwave_tui.cli import Context
    from peerwave_tui.manager_api import ManagerAPI
    from peerwave_tui.models import AccountRecord
    from peerwave_tui.ui.app import PeerwaveApp


def build_app(ctx: Context) -> PeerwaveApp:
    """The app over the saved servers, exactly as ``peerwave-tui`` runs it (the
    benchmark's app process builds it here too, so it measures the real thing).

    Logging goes to the log file before anything else, and the manager never prompts
    on the terminal (Textual owns it; a locked store asks on the unlock screen). The
    client stack is neither imported nor built here: ``LazyManager`` does both in a
    thread after the first paint.
    """
    from peerwave_tui.settings import Settings
    from peerwave_tui.ui.app import make_app
    from peerwave_tui.ui.lazy_manager import LazyManager

    ctx.setup_logging()
    settings = Settings.load(ctx.paths.config_file)

    def build() -> ManagerAPI:
        # Imported here, in the thread that builds it after the first paint.
        from peerwave_tui.commands.common import make_manager

        return make_manager(ctx, interactive=False)

    def saved_accounts() -> list[AccountRecord]:
        # What the manager will list, for the tabs drawn before it exists.
        from peerwave_tui.saved_accounts import load_accounts

        return load_accounts(ctx.paths.servers_file)

    lazy = LazyManager(build, saved_accounts=saved_accounts)
    return make_app(settings, ctx.paths, manager=lazy, freeze_heap=True)


def run_app(ctx: Context) -> int:
    """The app over the saved servers (first start: the add-server wizard); the exit
    code is the app's: 0 after Ctrl+Q."""
    app = build_app(ctx)
    app.run()
    skip_final_collection()
    return app.return_code or 0


def skip_final_collection() -> None:
    """Everything is closed by now; what is left is the interpreter's teardown, whose
    garbage-collection passes over all that Textual and the crypto libraries loaded take
    up to a second on a loaded machine. Frozen objects are left out of those passes
    (they are still freed), so quitting stays quick. Call it only on the way out."""
    import gc

    gc.freeze()

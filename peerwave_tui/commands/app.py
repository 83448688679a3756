"""Running ``peerwave-tui`` with no subcommand starts the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from peerwave_tui.errors import UsageError

if TYPE_CHECKING:
    from peerwave_tui.cli import Context


def run_app(ctx: Context) -> int:
    raise UsageError("the app is not available yet; see 'peerwave-tui --help'")

"""``peerwave-tui devserver``: run the PeerWave-compatible development server."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peerwave_tui.cli import Context


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    from peerwave_tui.devserver.options import add_arguments

    parser = subparsers.add_parser(
        "devserver",
        parents=[parent],
        help="run a PeerWave-compatible development server on 127.0.0.1",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def run(ctx: Context) -> int:
    from peerwave_tui.devserver.main import run_from_args

    return run_from_args(ctx.args)

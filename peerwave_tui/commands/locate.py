"""``peerwave-tui locate``: print where config, data and logs live."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peerwave_tui.cli import Context


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "locate", parents=[parent], help="print the config, data and log paths"
    )
    parser.set_defaults(handler=run)


def run(ctx: Context) -> int:
    paths = ctx.paths
    print(f"config: {paths.config_dir}")
    print(f"data:   {paths.data_dir}")
    print(f"logs:   {paths.log_dir}")
    return 0

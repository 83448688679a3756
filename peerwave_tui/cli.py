"""Command line: parse arguments, build paths and settings, run a command or the app.

Global options (``--home``, ``--passphrase-file``, ``--key-mode``, ``--server``) are
accepted before or after the subcommand. Every command module in
``peerwave_tui/commands/`` registers its own parser and runs with a ``Context``.

No traceback ever reaches the terminal: user-facing failures print one line, and an
unexpected exception is written to the log file with a one-line pointer to it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from peerwave_tui import __version__
from peerwave_tui.errors import PeerwaveError, UsageError
from peerwave_tui.paths import Paths

PROG = "peerwave-tui"
log = logging.getLogger(__name__)


@dataclass
class Context:
    """What every command gets: parsed arguments and the resolved paths."""

    args: argparse.Namespace
    paths: Paths
    _extra: dict[str, Any] = field(default_factory=dict)

    @property
    def server(self) -> str | None:
        return getattr(self.args, "server", None)

    def setup_logging(self) -> None:
        """Create the roots (0700) and log to the app's log file only."""
        from peerwave_tui.logs import configure_file_logging

        if "log_handler" not in self._extra:
            self.paths.ensure()
            self._extra["log_handler"] = configure_file_logging(self.paths.log_file)


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Global options; on subcommand parsers they default to SUPPRESS so a value given
    before the subcommand is not overwritten by the subparser's default."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--home",
        metavar="DIR",
        default=default(None),
        help="put config, data and logs under DIR (also PEERWAVE_TUI_HOME)",
    )
    group.add_argument(
        "--passphrase-file",
        metavar="FILE",
        default=default(None),
        help="read the store passphrase from FILE (passphrase mode)",
    )
    group.add_argument(
        "--key-mode",
        choices=["keyring", "passphrase"],
        default=default(None),
        help="where new stores keep their key: the OS keyring (default) or a passphrase",
    )
    group.add_argument(
        "--server",
        metavar="URL",
        default=default(None),
        help="the server to use (may be omitted when only one account exists)",
    )


def global_options_parent() -> argparse.ArgumentParser:
    """A parent parser that subcommand parsers include (``parents=[...]``)."""
    parent = argparse.ArgumentParser(add_help=False)
    _add_global_options(parent, suppress=True)
    return parent


def build_parser() -> argparse.ArgumentParser:
    from peerwave_tui.commands import COMMANDS

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A terminal chat client for PeerWave servers: several servers at "
        "once, end-to-end encrypted.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_global_options(parser, suppress=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    parent = global_options_parent()
    for command in COMMANDS:
        command.register(subparsers, parent)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    paths = Paths.resolve(args.home)
    ctx = Context(args=args, paths=paths)
    handler = getattr(args, "handler", None)
    if handler is None:
        from peerwave_tui.commands.app import run_app

        handler = run_app
    try:
        return int(handler(ctx) or 0)
    except UsageError as exc:
        print(f"{PROG}: error: {_printable(str(exc))}", file=sys.stderr)
        return 2
    except PeerwaveError as exc:
        print(f"{PROG}: error: {_printable(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``receive | head``): what was not printed stays
        # unreported for the next run. Point stdout at /dev/null so Python's own flush
        # at exit does not complain a second time.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports it
    except Exception:  # noqa: BLE001 - last line of defence: no traceback on the terminal
        try:
            ctx.setup_logging()
            log.exception("unexpected error in command %s", getattr(args, "command", None))
            where = f" (details in {paths.log_file})"
        except Exception:  # noqa: BLE001
            where = ""
        print(f"{PROG}: error: an unexpected error occurred{where}", file=sys.stderr)
        return 1


def _printable(message: str) -> str:
    """An error message on one line without control characters: errors quote names
    and answers chosen by peers and servers (an ambiguous contact lists names)."""
    from peerwave_tui.ui.format import one_line

    return one_line(message, 2000)

"""``peerwave-tui devserver``: run the dev server until SIGINT or SIGTERM.

Prints exactly one line to standard output, ``listening on http://HOST:PORT``, once
it accepts connections. Logs (every OTP among them) go to standard error, or to
``--log-file``, one line per record (``logsetup``): no library traceback reaches the
terminal. Ctrl+C ends it cleanly with exit status 0 and no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sqlite3
import sys

from peerwave_tui.devserver.app import DevServer
from peerwave_tui.devserver.config import DevServerConfig
from peerwave_tui.devserver.logsetup import log_loop_exception, log_unraisable, make_handler

log = logging.getLogger(__name__)

_CHATTY = ("aiohttp.access", "aiohttp.server", "socketio", "engineio", "asyncio")


def run_from_args(args: argparse.Namespace) -> int:
    try:
        config = DevServerConfig.from_args(args)
    except ValueError as exc:
        sys.stderr.write(f"peerwave-tui devserver: {exc}\n")
        return 2
    try:
        handler = make_handler(getattr(args, "log_file", None))
    except OSError as exc:
        sys.stderr.write(f"peerwave-tui devserver: cannot open the log file: {exc.strerror}\n")
        return 2
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = log_unraisable
    try:
        return asyncio.run(serve(config))
    except KeyboardInterrupt:  # a second Ctrl+C during shutdown
        return 0
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback on the terminal
        log.debug("stopped by an unexpected error", exc_info=True)
        _fail(f"stopped by an unexpected error ({type(exc).__name__})")
        return 1
    finally:
        sys.unraisablehook = previous_hook
        root.removeHandler(handler)
        handler.close()


def _fail(message: str) -> None:
    sys.stderr.write(f"peerwave-tui devserver: {message}\n")


async def serve(config: DevServerConfig) -> int:
    """Start, print the ready line, wait for SIGINT/SIGTERM, stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(log_loop_exception)
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = DevServer(config)
    try:
        await server.start()
    except sqlite3.Error as exc:
        _fail(f"cannot open the database in {config.data_dir}: {exc}")
        return 1
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        if exc.filename:
            _fail(f"cannot use {exc.filename}: {reason}")
        else:
            _fail(f"cannot listen on {config.host}:{config.port}: {reason}")
        return 1
    sys.stdout.write(f"listening on {server.url}\n")
    sys.stdout.flush()
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        await server.stop()
    return 0

"""Logging to the app's own file, never to the terminal.

Rule for every log call in this project: no message text, no contact names, no
keys or secrets. Log ids, counts, states and error classes only.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from peerwave_tui.storage.fs import FILE_MODE, create_private_file

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _PrivateFileHandler(logging.FileHandler):
    """A file handler whose file is created 0600 before logging opens it."""

    def __init__(self, path: Path) -> None:
        create_private_file(path)
        super().__init__(path, encoding="utf-8", delay=False)
        os.chmod(path, FILE_MODE)


def configure_file_logging(log_file: Path, level: int = logging.INFO) -> logging.Handler:
    """Send the root logger (and python-axolotl's) to ``log_file`` only.

    Replaces any stream handler so nothing reaches stderr, which Textual draws on.
    Returns the handler so callers (tests) can remove it.
    """
    handler = _PrivateFileHandler(log_file)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, logging.StreamHandler) and not isinstance(
            existing, logging.FileHandler
        ):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    quiet_terminal_loggers()
    return handler


def quiet_terminal_loggers() -> None:
    """Keep chatty libraries off the terminal even before file logging exists.

    Without any handler, logging's last-resort handler prints WARNINGs to stderr;
    a NullHandler on these loggers stops that while still propagating to the file.
    """
    for name in ("axolotl", "socketio", "engineio", "aiohttp", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
    logging.getLogger("socketio").setLevel(logging.WARNING)
    logging.getLogger("engineio").setLevel(logging.WARNING)
    library = logging.getLogger(SOCKET_LIBRARY_LOGGER)
    if not any(isinstance(f, _RoutineDisconnects) for f in library.filters):
        library.addFilter(_RoutineDisconnects())


# The logger our socket.io clients are given (peerwave_tui/socket.py).
SOCKET_LIBRARY_LOGGER = "peerwave_tui.socket.library"


class _RoutineDisconnects(logging.Filter):
    """python-engineio reports every server-side close as a WARNING ("Server sent close
    packet data None, aborting"): a normal disconnect, logged at INFO instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).startswith(
            "Server sent close packet"
        ):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True

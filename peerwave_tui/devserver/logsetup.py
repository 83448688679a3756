"""The dev server's log handler: one line per record, never a traceback on the terminal.

aiohttp ("Error handling request"), asyncio ("Task exception was never retrieved") and
python-engineio log library exceptions with their tracebacks. Most of them on a dev
server are a client going away at the wrong moment (a disconnect in the middle of a
websocket upgrade, or after a frozen server resumes): aiohttp then raises
``ClientConnectionResetError: Cannot write to closing transport`` out of engineio's
handler. That is normal network life, not a server bug, so such a record becomes one
INFO line naming the exception. Any other exception stays at its level, also as one
line on standard error; only a ``--log-file`` keeps its traceback, for debugging.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_DETAIL_CHARS = 200


def is_connection_loss(error: BaseException | None) -> bool:
    """A peer that went away (reset, broken pipe, closing transport): nothing the
    server could have done better. aiohttp's ``ClientConnectionResetError`` is a
    ``ConnectionResetError``."""
    return isinstance(error, ConnectionError)


def _one_line(text: str) -> str:
    return " | ".join(part.strip() for part in text.splitlines() if part.strip())


def _describe(error: BaseException) -> str:
    detail = _one_line(str(error))[:MAX_DETAIL_CHARS]
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


class OneLineFormatter(logging.Formatter):
    """Formats every record as one line. A connection loss shows as INFO without its
    traceback; other exceptions keep their traceback only when ``keep_tracebacks``.
    Works on a copy: the record is shared with every other handler."""

    def __init__(self, *, keep_tracebacks: bool) -> None:
        super().__init__(LOG_FORMAT)
        self.keep_tracebacks = keep_tracebacks

    def format(self, record: logging.LogRecord) -> str:
        line = logging.makeLogRecord(record.__dict__)
        error = record.exc_info[1] if record.exc_info else None
        message = _one_line(record.getMessage())
        if error is not None:
            message = f"{message} ({_describe(error)})"
            if is_connection_loss(error) and line.levelno > logging.INFO:
                line.levelno, line.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            if is_connection_loss(error) or not self.keep_tracebacks:
                line.exc_info = None
        line.exc_text = None
        if not self.keep_tracebacks:
            line.stack_info = None
        line.msg, line.args = message, None
        return super().format(line)


def make_handler(log_file: str | None) -> logging.Handler:
    """Standard error (one line per record, no traceback at all) or ``log_file``
    (appended; tracebacks only for unexpected errors). Raises ``OSError``."""
    handler: logging.Handler
    if log_file:
        handler = logging.FileHandler(Path(log_file), encoding="utf-8")
        handler.setFormatter(OneLineFormatter(keep_tracebacks=True))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(OneLineFormatter(keep_tracebacks=False))
    return handler


def log_unraisable(unraisable: Any) -> None:
    """``sys.unraisablehook``: an exception in a finalizer (e.g. a transport closed
    during garbage collection) is a log line, not a traceback on the terminal."""
    error = unraisable.exc_value
    what = unraisable.err_msg or "Exception ignored"
    level = logging.INFO if is_connection_loss(error) else logging.WARNING
    logging.getLogger("peerwave_tui.devserver").log(
        level, "%s (%s)", what, _describe(error) if error is not None else "unknown"
    )


def log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's exception handler (a failed callback or an unawaited task's
    exception): one line, INFO for a connection loss."""
    error = context.get("exception")
    level = logging.INFO if is_connection_loss(error) else logging.ERROR
    message = _one_line(str(context.get("message") or "event loop error"))
    detail = f" ({_describe(error)})" if isinstance(error, BaseException) else ""
    logging.getLogger("peerwave_tui.devserver").log(level, "%s%s", message, detail)

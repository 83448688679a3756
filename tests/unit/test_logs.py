"""The socket library's routine disconnect notice is not logged as a warning."""

from __future__ import annotations

import logging

import pytest

from peerwave_tui.logs import SOCKET_LIBRARY_LOGGER, quiet_terminal_loggers


def test_a_server_side_close_is_info_and_other_warnings_stay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_terminal_loggers()
    library = logging.getLogger(SOCKET_LIBRARY_LOGGER)
    with caplog.at_level(logging.DEBUG, logger=SOCKET_LIBRARY_LOGGER):
        library.warning("Server sent close packet data %s, aborting", None)
        library.warning("Unexpected packet")
    levels = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert levels == [
        ("INFO", "Server sent close packet data None, aborting"),
        ("WARNING", "Unexpected packet"),
    ]

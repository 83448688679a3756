"""A client that leaves in the middle of a websocket upgrade (aiohttp's "Cannot write
to closing transport", raised out of python-engineio's handler) is one INFO line, not
a logged traceback; and the log handler of ``peerwave-tui devserver`` turns every
library exception into one line (records as aiohttp and asyncio write them), so no
traceback ever reaches the terminal."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from peerwave_tui.devserver.logsetup import log_loop_exception, make_handler
from tests.devserver_fixtures import RunningDevServer


async def _leave_mid_upgrade(server: RunningDevServer) -> None:
    """Open an Engine.IO session, ask to upgrade it to a websocket and hang up at once."""
    async with aiohttp.ClientSession(server.url) as http:
        async with http.get("/socket.io/", params={"EIO": "4", "transport": "polling"}) as r:
            sid = json.loads((await r.text())[1:])["sid"]
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /socket.io/?EIO=4&transport=websocket&sid={sid} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_a_client_leaving_mid_upgrade_is_one_info_line(
    server: RunningDevServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(3):
        await _leave_mid_upgrade(server)

    def gone() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "client gone during GET /socket.io/" in r.getMessage()]

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(gone()) < 3 and loop.time() < deadline:
        await asyncio.sleep(0.05)
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert len(gone()) == 3
    assert all(r.levelno == logging.INFO for r in gone())
    assert all(r.getMessage().endswith("(ClientConnectionResetError)") for r in gone())
    async with aiohttp.ClientSession(server.url) as http:  # and it carries on serving
        async with http.get("/client/meta") as response:
            assert response.status == 200


@pytest.fixture
def attach() -> Iterator[list[logging.Handler]]:
    """Handlers put on the root logger for one test (removed and closed after it)."""
    added: list[logging.Handler] = []
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    yield added
    for handler in added:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def _use(attach: list[logging.Handler], log_file: Path | None = None) -> None:
    handler = make_handler(str(log_file) if log_file else None)
    logging.getLogger().addHandler(handler)
    attach.append(handler)


def _closing_transport_error() -> aiohttp.ClientConnectionResetError:
    try:
        raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")
    except aiohttp.ClientConnectionResetError as exc:
        return exc


def _log_as_aiohttp(error: BaseException) -> None:
    # aiohttp's web_protocol.handle_error, for an exception out of a request handler
    # (engineio's websocket handler raises it when the client left mid-upgrade).
    logging.getLogger("aiohttp.server").exception(
        "Error handling request from %s", "127.0.0.1", exc_info=error
    )


def test_a_client_gone_mid_upgrade_is_one_info_line(
    attach: list[logging.Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    _use(attach)
    _log_as_aiohttp(_closing_transport_error())
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = err.splitlines()
    assert line.endswith(
        " INFO aiohttp.server: Error handling request from 127.0.0.1"
        " (ClientConnectionResetError: Cannot write to closing transport)"
    )


def test_other_library_errors_are_one_line_on_the_terminal_and_traced_in_a_file(
    attach: list[logging.Handler], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log_file = tmp_path / "devserver.log"
    _use(attach)
    _use(attach, log_file)
    try:
        raise ValueError("first line\nsecond line")
    except ValueError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved\nfuture: x")
    _log_as_aiohttp(_closing_transport_error())

    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(
        " ERROR asyncio: Task exception was never retrieved | future: x"
        " (ValueError: first line | second line)"
    )
    # The log file keeps the traceback of an unexpected error, not of a client leaving.
    written = log_file.read_text()
    assert written.count("Traceback") == 1
    assert "ValueError: first line" in written
    assert written.rstrip().endswith(
        "(ClientConnectionResetError: Cannot write to closing transport)"
    )


async def test_the_event_loop_reports_in_one_line(
    attach: list[logging.Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    _use(attach)
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(log_loop_exception)
    try:
        loop.call_exception_handler(
            {
                "message": "Task exception was never retrieved",
                "exception": _closing_transport_error(),
            }
        )
        loop.call_exception_handler(
            {"message": "Exception in callback", "exception": KeyError("k")}
        )
    finally:
        loop.set_exception_handler(previous)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert " INFO peerwave_tui.devserver: Task exception was never retrieved (Client" in lines[0]
    assert lines[1].endswith(" ERROR peerwave_tui.devserver: Exception in callback (KeyError: 'k')")

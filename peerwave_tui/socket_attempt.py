"""One connection attempt of a SocketService: its own aiohttp session and
``socketio.AsyncClient``, the ``authenticated`` answer, and a teardown that leaves no
engine.io task or HTTP session behind."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import socketio

from peerwave_tui.api_transport import APP_SECRET_HEADER, APP_SECRET_VALUE
from peerwave_tui.wire import events as we
from peerwave_tui.wire import http_errors as he

# How long a teardown step may take before it is abandoned (a frozen server).
_CLOSE_TIMEOUT = 5.0


class Attempt:
    def __init__(self, library_logger: logging.Logger) -> None:
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        # reconnection=False: python-socketio does not reconnect after a server-initiated
        # disconnect anyway, so the supervisor does all of it. handle_sigint=False: the
        # app owns Ctrl+C. Our own logger: with ``False`` the library adds a stderr
        # handler, which would draw over the TUI.
        self.sio = socketio.AsyncClient(
            handle_sigint=False,
            reconnection=False,
            http_session=self.http,
            logger=library_logger,
            engineio_logger=library_logger,
        )
        self.auth: asyncio.Future[we.AuthSuccess | we.AuthFailure | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.lost = asyncio.Event()
        self.lost_reason = "the connection was lost"
        self.connected_at: float | None = None  # monotonic time of clientReady

    async def connect(self, base_url: str, handshake_timeout: float) -> None:
        """Open the websocket; raises TimeoutError or a connection error."""
        await asyncio.wait_for(
            self.sio.connect(
                base_url,
                headers={APP_SECRET_HEADER: APP_SECRET_VALUE},
                transports=["websocket"],
                # python-socketio's default of 1 s is too short for slow servers.
                wait_timeout=handshake_timeout,
            ),
            handshake_timeout,
        )

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(), _CLOSE_TIMEOUT)
        eio = self.sio.eio
        with contextlib.suppress(Exception):
            if eio.state != "disconnected":
                await asyncio.wait_for(eio.disconnect(abort=True), _CLOSE_TIMEOUT)
        # engine.io's loops end once the transport is closed; wait so none leaks.
        loops = [t for t in (eio.read_loop_task, eio.write_loop_task) if t is not None]
        if loops:
            _, pending = await asyncio.wait(loops, timeout=_CLOSE_TIMEOUT)
            for task in pending:
                task.cancel()
        if not self.http.closed:
            await self.http.close()


async def server_clock_ms(base_url: str, seconds: float) -> int | None:
    """The server's clock from the ``Date`` of ``GET /client/meta`` (None if unknown)."""
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=seconds), cookie_jar=aiohttp.DummyCookieJar()
            ) as http,
            http.get(
                base_url + "/client/meta", headers={APP_SECRET_HEADER: APP_SECRET_VALUE}
            ) as resp,
        ):
            return he.date_header_ms(resp.headers.get("Date"))
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None

"""One connection attempt of a SocketService: its own aiohttp session and
``socketio.AsyncClient``, the ``authenticated`` answer, and a teardown that leaves no
engine.io task or HTTP session behind, bounded in time however the server behaves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import socketio

from peerwave_tui.api_transport import APP_SECRET_HEADER, APP_SECRET_VALUE
from peerwave_tui.wire import events as we
from peerwave_tui.wire import http_errors as he

log = logging.getLogger(__name__)

# How long a teardown step may take before it is abandoned (a frozen server).
_CLOSE_TIMEOUT = 5.0
# Once the connection is being dropped (not closed politely), how long each step waits.
_ABORT_WAIT = 0.25


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
        async with asyncio.timeout(handshake_timeout):
            await self.sio.connect(
                base_url,
                headers={APP_SECRET_HEADER: APP_SECRET_VALUE},
                transports=["websocket"],
                # python-socketio's default of 1 s is too short for slow servers.
                wait_timeout=handshake_timeout,
            )
        # python-engineio swallows a CancelledError that arrives while it runs its
        # connect handler: if stop() cancelled us meanwhile, end as it asked, or the
        # supervisor would wait on the connection for ever.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError

    async def close(self, *, goodbye: float = _CLOSE_TIMEOUT) -> None:
        """Say goodbye (a socket.io disconnect, given at most ``goodbye`` seconds: a
        frozen server never answers it), then drop the connection. Bounded: at most
        ``goodbye`` + 4 × ``_ABORT_WAIT`` seconds."""
        if goodbye > 0:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.sio.disconnect(), goodbye)
        eio = self.sio.eio
        with contextlib.suppress(Exception):
            if eio.state != "disconnected":
                await asyncio.wait_for(eio.disconnect(abort=True), _ABORT_WAIT)
        await self.abort()

    async def abort(self) -> None:
        """Drop the connection without a word and end engine.io's tasks; bounded.

        Closing the HTTP session closes the socket under the websocket, so engine.io's
        read loop ends even when the server never sends anything again; a task that
        still has not ended after that is cancelled."""
        if not self.http.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.http.close(), _ABORT_WAIT)
        eio = self.sio.eio
        loops = [
            t for t in (eio.read_loop_task, eio.write_loop_task) if t is not None and not t.done()
        ]
        if loops:
            _, pending = await asyncio.wait(loops, timeout=_ABORT_WAIT)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=_ABORT_WAIT)


async def end_task(
    task: asyncio.Task[None],
    wait: float,
    abort: Callable[[], Awaitable[None]],
    what: str,
) -> None:
    """Cancel ``task`` and wait for it, at most about 2 × ``wait`` + ``abort``'s time.

    A task stuck in a library call that does not honour the cancel (a connect to a
    server that never answers) gets ``abort()`` (its connection dropped from under it)
    and a second cancel; if it still runs, it is left to end alone, and logged."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=wait)
    if not done:
        log.info("%s: the task did not stop in time; dropping its connection", what)
        await abort()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=wait)
    if not done:
        log.warning("%s: the task ignores its cancellation; left to end alone", what)
    task.add_done_callback(_consume_outcome)


def _consume_outcome(task: asyncio.Task[None]) -> None:
    """Take a finished task's exception, so asyncio does not report it as unseen."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("a stopped task ended with %s", type(task.exception()).__name__)


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

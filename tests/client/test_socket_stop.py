"""``SocketService.stop()`` when the server never answers: it returns within a few
seconds, whether the server froze during the handshake or after a successful connect
(with a request in flight), and it leaves no task behind (the autouse leak check of
tests/client/conftest.py). Before, closing the app with one frozen server waited out
the app's whole close timeout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from peerwave_tui.errors import NotConnectedError
from peerwave_tui.models import ConnectionState
from peerwave_tui.socket import CONNECTED, SocketService
from peerwave_tui.socket_attempt import end_task
from peerwave_tui.wire import Credentials
from tests.client.devserver_accounts import register_and_login
from tests.client.socket_helpers import EventReader, StateLog
from tests.devserver_fixtures import DevServerProcess

# "Within a couple of seconds", as a functional deadline with a wide margin: stop()
# waits at most 0.5 s for a goodbye that never comes (then drops the connection); the
# old one waited 5 s for it, plus engine.io's own waits, or never returned at all.
STOP_DEADLINE = 4.0
HANDSHAKE = 120.0  # the handshake's own timeout must not be what ends the wait

CREDS = Credentials("0b6f3c1e-8a52-4c3e-9d0a-2f4b7e9c1a55", "secret-value", "user-1")


class _Mute:
    """A TCP server on 127.0.0.1 that accepts, reads everything, and never writes."""

    def __init__(self) -> None:
        self.received = asyncio.Event()  # a client's bytes (the websocket upgrade) arrived
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                self.received.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.close()
            await self._server.wait_closed()


@pytest.fixture
async def mute() -> AsyncIterator[_Mute]:
    server = _Mute()
    try:
        yield server
    finally:
        await server.close()


async def _stop_in_time(service: SocketService) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    # Timed by hand: a stop() that swallows cancellation would defeat wait_for alone.
    await asyncio.wait_for(service.stop(), 10 * STOP_DEADLINE)
    assert loop.time() - started < STOP_DEADLINE
    assert service.state is ConnectionState.CLOSED
    assert not service.running


async def test_stop_returns_while_the_handshake_gets_no_answer(mute: _Mute) -> None:
    url = await mute.start()
    states = StateLog()
    service = SocketService(url, lambda: CREDS, handshake_timeout=HANDSHAKE, on_state=states)
    reader = EventReader(service)
    try:
        await service.start()
        await asyncio.wait_for(mute.received.wait(), 30)  # the attempt is waiting on it
        assert service.state is ConnectionState.CONNECTING
    finally:
        await _stop_in_time(service)
        await reader.aclose()
    assert not states.of(ConnectionState.CONNECTED)


async def test_stop_returns_when_the_server_freezes_after_connecting(tmp_path: Path) -> None:
    async with DevServerProcess(tmp_path / "server") as server:
        await server.start()
        account = await register_and_login(server.url, server, name="frozen")
        states = StateLog()
        service = SocketService(
            server.url, lambda: account.credentials, handshake_timeout=HANDSHAKE, on_state=states
        )
        reader = EventReader(service)
        try:
            await service.start()
            await reader.until(CONNECTED)
            server.stop()  # SIGSTOP: the connection stays open, nothing answers any more
            asking = asyncio.ensure_future(service.fetch_pending())
            await asyncio.sleep(0.2)  # the request is out, its answer never comes
            assert not asking.done()
            await _stop_in_time(service)
            with pytest.raises(NotConnectedError):
                await asyncio.wait_for(asking, 5)

            # Still frozen: a new connection now hangs in the handshake; stop() again.
            again = SocketService(
                server.url, lambda: account.credentials, handshake_timeout=HANDSHAKE
            )
            await again.start()
            await asyncio.sleep(0.5)
            assert again.state is ConnectionState.CONNECTING
            await _stop_in_time(again)
        finally:
            server.cont()
            await reader.aclose()
            await service.stop()
            await account.api.aclose()


async def test_a_task_that_ignores_its_cancellation_is_aborted_or_left_behind() -> None:
    aborted = asyncio.Event()

    async def swallows_the_cancel() -> None:
        # Like a library call that catches CancelledError and keeps waiting: only
        # dropping its connection (abort) ends it.
        while not aborted.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await aborted.wait()

    async def abort() -> None:
        aborted.set()

    task = asyncio.create_task(swallows_the_cancel())
    await asyncio.sleep(0)
    await asyncio.wait_for(end_task(task, 0.2, abort, "test"), STOP_DEADLINE)
    assert task.done() and aborted.is_set()

    never = asyncio.Event()

    async def never_ends() -> None:
        while not never.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await never.wait()

    async def no_help() -> None:
        pass

    stubborn = asyncio.create_task(never_ends())
    await asyncio.sleep(0)
    await asyncio.wait_for(end_task(stubborn, 0.1, no_help, "test"), STOP_DEADLINE)
    assert not stubborn.done()  # left behind, and end_task returned anyway
    never.set()
    await asyncio.wait_for(stubborn, 5)

"""A bare python-socketio client speaking protocol.md §3.4 and §5 directly.

Used for the benchmark's own peers (they produce traffic; they are not measured) and
for the "bare socket.io round trip" baseline: ``sendItem`` from one raw socket to
``receiveItem`` on another, on the same dev server the client is measured against.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import socketio

from peerwave_tui.wire.signing import SOCKET_AUTH_PATH, Credentials, auth_headers

CONNECT_TIMEOUT = 30.0

Handler = Callable[[Any], None]


class RawSocket:
    """One authenticated, ready socket for one device."""

    def __init__(self, url: str, credentials: Credentials) -> None:
        self.url = url
        self.credentials = credentials
        self.device_id: int | None = None
        self.lost = False  # the server closed the connection (no reconnection here)
        self.counts: dict[str, int] = {}
        self._handlers: dict[str, Handler] = {}
        self._changed = asyncio.Event()
        self._authenticated: asyncio.Future[Any] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._sio: socketio.AsyncClient | None = None

    def on(self, event: str, handler: Handler) -> None:
        """Call ``handler(data)`` for every ``event`` (synchronously, at arrival)."""
        self._handlers[event] = handler

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._authenticated = loop.create_future()
        self._http = aiohttp.ClientSession()
        self._sio = socketio.AsyncClient(reconnection=False, http_session=self._http)
        self._sio.on("*", self._record)
        self._sio.on("disconnect", self._disconnected)
        await self._sio.connect(self.url, transports=["websocket"], wait_timeout=CONNECT_TIMEOUT)
        payload = auth_headers(self.credentials, int(time.time() * 1000), SOCKET_AUTH_PATH, b"")
        await self._sio.emit("authenticate", payload)
        result = await asyncio.wait_for(self._authenticated, CONNECT_TIMEOUT)
        if not isinstance(result, dict) or result.get("authenticated") is not True:
            raise RuntimeError(f"socket authentication failed: {result!r}")
        self.device_id = int(result["deviceId"])
        await self._sio.emit("clientReady", {"timestamp": int(time.time() * 1000)})

    async def _record(self, event: str, *args: Any) -> None:
        data = args[0] if args else None
        if event == "authenticated" and self._authenticated and not self._authenticated.done():
            self._authenticated.set_result(data)
        self.counts[event] = self.counts.get(event, 0) + 1
        handler = self._handlers.get(event)
        if handler is not None:
            handler(data)
        self._changed.set()

    async def _disconnected(self, *args: Any) -> None:
        self.lost = True
        self._changed.set()

    def _client(self) -> socketio.AsyncClient:
        if self._sio is None:
            raise RuntimeError("socket not open")
        return self._sio

    async def emit(self, event: str, data: Any) -> None:
        await self._client().emit(event, data)

    async def call(self, event: str, data: Any, timeout: float = 30.0) -> Any:
        return await self._client().call(event, data, timeout=timeout)

    async def wait_count(self, event: str, count: int, timeout: float) -> None:
        """Until ``count`` events named ``event`` have arrived in total."""
        deadline = time.monotonic() + timeout
        while self.counts.get(event, 0) < count:
            if self.lost:
                got = self.counts.get(event, 0)
                raise ConnectionError(f"connection lost after {got} of {count} {event!r} events")
            left = deadline - time.monotonic()
            if left <= 0:
                got = self.counts.get(event, 0)
                raise TimeoutError(f"{got} of {count} {event!r} events after {timeout:.0f} s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
            except TimeoutError:
                pass

    async def send_item(
        self,
        *,
        item_id: str,
        recipient: str,
        recipient_device: int,
        payload: str,
        cipher_type: int,
        type: str = "message",
    ) -> None:
        await self.emit(
            "sendItem",
            {
                "itemId": item_id,
                "recipient": recipient,
                "recipientDeviceId": recipient_device,
                "type": type,
                "payload": payload,
                "cipherType": cipher_type,
                "originalRecipient": recipient,
            },
        )

    async def close(self) -> None:
        if self._sio is not None:
            try:
                await self._sio.disconnect()
            finally:
                self._sio = None
        if self._http is not None:
            await self._http.close()
            self._http = None

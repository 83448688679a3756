"""Plain protocol clients for tests: HMAC signing, signed HTTP and a recording socket.

Written from protocol.md with aiohttp and python-socketio only; they never import the
client code of peerwave_tui. ``tests.devserver_fixtures`` re-exports all of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio

SOCKET_AUTH_PATH = "/socket.io/auth"


# ----------------------------------------------------------------------- accounts


@dataclass
class ReadyAccount:
    """A verified account with a profile and a native (backup-code) login."""

    email: str
    display_name: str
    user_id: str
    client_id: str
    session_secret: str
    device_id: int
    backup_codes: list[str] = field(default_factory=list)  # the 9 still unused


# ------------------------------------------------------------------------ signing


def sign(secret: str, client_id: str, timestamp: str, nonce: str, path: str, body: str) -> str:
    """``X-Signature`` for ``{clientId}:{timestamp}:{nonce}:{path}:{body}`` (protocol.md 3.1)."""
    message = f"{client_id}:{timestamp}:{nonce}:{path}:{body}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signed_headers(
    client_id: str,
    secret: str,
    path: str,
    body: str = "",
    *,
    timestamp_ms: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four HMAC headers (also the ``authenticate`` payload with path /socket.io/auth)."""
    ts = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    nonce = nonce or str(uuid.uuid4())
    return {
        "X-Client-ID": client_id,
        "X-Timestamp": ts,
        "X-Nonce": nonce,
        "X-Signature": sign(secret, client_id, ts, nonce, path, body),
    }


# -------------------------------------------------------------------- signed HTTP


class SignedHttp:
    """HMAC-signed requests for one account; returns ``(status, parsed JSON or None)``.

    The body is serialized once, signed and sent as those exact bytes. ``clock`` (Unix
    seconds) must match the server's clock when the server runs on a ManualClock.
    """

    def __init__(
        self, base_url: str, account: ReadyAccount, clock: Callable[[], float] = time.time
    ) -> None:
        self.account = account
        self.clock = clock
        self.http = aiohttp.ClientSession(base_url)

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        raw = "" if body is None else json.dumps(body)
        signed = signed_headers(
            self.account.client_id,
            self.account.session_secret,
            path,
            raw,
            timestamp_ms=int(self.clock() * 1000),
        )
        if raw:
            signed["Content-Type"] = "application/json"
        async with self.http.request(
            method,
            path,
            data=raw.encode() or None,
            params=params,
            headers={**signed, **(headers or {})},
        ) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text) if text else None
            except ValueError:
                return response.status, text

    async def get(self, path: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return await self.request("POST", path, body)

    async def delete(self, path: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
        return await self.request("DELETE", path, params=params)

    async def close(self) -> None:
        await self.http.close()

    async def __aenter__(self) -> SignedHttp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# ------------------------------------------------------------------------ sockets


class SocketProbe:
    """A python-socketio ``AsyncClient`` that records every event it receives, in order.

    ``received`` is the list of ``(event, data)``; :meth:`wait_for` waits for an event
    (optionally matching ``predicate``) at index ``after`` or later.
    """

    def __init__(
        self,
        url: str,
        account: ReadyAccount | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.account = account
        self.clock = clock
        self.received: list[tuple[str, Any]] = []
        self.counts: dict[str, int] = {}
        self._changed = asyncio.Event()
        # Our own HTTP session, so it is closed even when the server drops the socket.
        # (Construct probes inside a running event loop, as async tests do.)
        self._http: aiohttp.ClientSession | None = aiohttp.ClientSession()
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self._http)
        self.sio.on("*", self._record)
        self.sio.on("disconnect", self._on_disconnect)
        self.disconnected = asyncio.Event()

    async def _record(self, event: str, *args: Any) -> None:
        self.received.append((event, args[0] if args else None))
        self.counts[event] = self.counts.get(event, 0) + 1
        self._changed.set()

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()
        self._changed.set()

    async def connect(
        self, transports: Sequence[str] = ("websocket",), headers: dict[str, str] | None = None
    ) -> None:
        await self.sio.connect(
            self.url, transports=list(transports), headers=headers or {}, wait_timeout=10
        )

    def mark(self) -> int:
        """The index the next received event will get (for ``wait_for(after=...)``)."""
        return len(self.received)

    def events(self, name: str) -> list[Any]:
        return [data for event, data in self.received if event == name]

    async def wait_for(
        self,
        name: str,
        predicate: Callable[[Any], bool] | None = None,
        *,
        after: int = 0,
        timeout: float = 10,
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            for event, data in self.received[after:]:
                if event == name and (predicate is None or predicate(data)):
                    return data
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [event for event, _ in self.received[after:]]
                raise TimeoutError(f"no {name!r} within {timeout}s; got {seen}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass

    async def wait_count(self, name: str, count: int, *, timeout: float = 10) -> list[Any]:
        """Wait until ``count`` events called ``name`` have arrived; return their data."""
        deadline = time.monotonic() + timeout
        while self.counts.get(name, 0) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                got = self.counts.get(name, 0)
                raise TimeoutError(f"{got} of {count} {name!r} events after {timeout}s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass
        return self.events(name)

    async def authenticate(
        self, account: ReadyAccount | None = None, *, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Emit ``authenticate`` (signed for /socket.io/auth) and return ``authenticated``."""
        account = account or self.account
        assert account is not None or payload is not None
        if payload is None:
            assert account is not None
            payload = signed_headers(
                account.client_id,
                account.session_secret,
                SOCKET_AUTH_PATH,
                timestamp_ms=int(self.clock() * 1000),
            )
        mark = self.mark()
        await self.sio.emit("authenticate", payload)
        result: dict[str, Any] = await self.wait_for("authenticated", after=mark)
        return result

    async def ready(self) -> None:
        await self.sio.emit("clientReady", {"timestamp": int(time.time() * 1000)})

    async def start(self) -> dict[str, Any]:
        """connect → authenticate → clientReady; returns the ``authenticated`` body."""
        await self.connect()
        result = await self.authenticate()
        assert result.get("authenticated") is True, result
        await self.ready()
        return result

    async def emit(self, event: str, data: Any = None) -> None:
        await self.sio.emit(event, data)

    async def call(self, event: str, data: Any = None, timeout: float = 10) -> Any:
        return await self.sio.call(event, data, timeout=timeout)

    async def close(self) -> None:
        await self.sio.shutdown()  # disconnects and stops any reconnection attempt
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> SocketProbe:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

"""A scriptable python-socketio server for the socket tests that the dev server cannot
play: a hostile server (malformed events), refused authentication, clock skew.

It is deliberately not PeerWave-complete; the dev server covers the real flows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import socketio
from aiohttp import web

USER_ID = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"

AuthAnswer = Callable[[dict[str, Any]], dict[str, Any]]


def accept(device_id: int = 1) -> AuthAnswer:
    def answer(data: dict[str, Any]) -> dict[str, Any]:
        return {
            "authenticated": True,
            "uuid": USER_ID,
            "deviceId": device_id,
            "clientId": data.get("X-Client-ID"),
        }

    return answer


def refuse(code: str) -> AuthAnswer:
    return lambda _data: {"authenticated": False, "error": code}


@dataclass
class FakeSocketServer:
    auth_answers: list[AuthAnswer] = field(default_factory=lambda: [accept()])
    clock_skew_s: float = 0.0  # the server's clock runs this far ahead
    on_authenticated: Callable[[str], Awaitable[None]] | None = None
    on_ready: Callable[[str], Awaitable[None]] | None = None
    on_pending: Callable[[str, Any], Awaitable[None]] | None = None
    on_delete: Callable[[str, Any], Awaitable[Any]] | None = None
    received: list[tuple[str, Any]] = field(default_factory=list)
    connects: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    ready_sids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
        self.sio.on("connect", self._connect)
        self.sio.on("authenticate", self._authenticate)
        self.sio.on("clientReady", self._client_ready)
        self.sio.on("fetchPendingMessagesV2", self._pending)
        self.sio.on("deleteItem", self._delete)
        self.sio.on("*", self._any)

    def app(self) -> web.Application:
        app = web.Application()
        self.sio.attach(app)
        app.router.add_get("/client/meta", self._meta)
        return app

    async def _meta(self, _request: web.Request) -> web.Response:
        date = formatdate(time.time() + self.clock_skew_s, usegmt=True)
        return web.json_response({"serverName": "fake"}, headers={"Date": date})

    async def _connect(self, sid: str, environ: Any, auth: Any = None) -> None:
        self.connects += 1

    async def _authenticate(self, sid: str, data: Any) -> None:
        self.received.append(("authenticate", data))
        answer_for = (
            self.auth_answers.pop(0) if len(self.auth_answers) > 1 else self.auth_answers[0]
        )
        answer = answer_for(data)
        if answer.get("authenticated") and self.clock_skew_s:
            server_ms = (time.time() + self.clock_skew_s) * 1000
            if abs(int(data["X-Timestamp"]) - server_ms) > 5 * 60 * 1000:
                answer = {"authenticated": False, "error": "timestamp_expired"}
        await self.sio.emit("authenticated", answer, to=sid)
        if answer.get("authenticated") and self.on_authenticated is not None:
            await self.on_authenticated(sid)

    async def _client_ready(self, sid: str, data: Any) -> None:
        self.received.append(("clientReady", data))
        self.ready_sids.append(sid)
        self.ready.set()
        if self.on_ready is not None:
            await self.on_ready(sid)

    async def _pending(self, sid: str, data: Any) -> None:
        self.received.append(("fetchPendingMessagesV2", data))
        if self.on_pending is not None:
            await self.on_pending(sid, data)

    async def _delete(self, sid: str, data: Any) -> Any:
        self.received.append(("deleteItem", data))
        if self.on_delete is not None:
            return await self.on_delete(sid, data)
        return {"success": True, "deletedCount": 1}

    async def _any(self, event: str, sid: str, data: Any = None) -> None:
        self.received.append((event, data))

    async def wait_ready(self, count: int = 1, timeout: float = 30.0) -> str:
        async def until() -> None:
            while len(self.ready_sids) < count:
                self.ready.clear()
                await self.ready.wait()

        await asyncio.wait_for(until(), timeout)
        return self.ready_sids[-1]

"""Fixtures for the network services: tiny real servers on 127.0.0.1 and a leak check."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.leak_check import no_leaked_client_tasks

__all__ = ["no_leaked_client_tasks"]

Responder = Callable[[web.Request, bytes], Awaitable[web.StreamResponse] | web.StreamResponse]


@contextlib.asynccontextmanager
async def serve(app: web.Application, port: int = 0) -> AsyncIterator[str]:
    """Run ``app`` on 127.0.0.1 and yield its base URL."""
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        await runner.cleanup()


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """An HTTP server that records every request and answers from a script.

    ``script[(method, path)]`` is a list of responders used in turn; the last one
    repeats. Unscripted requests get ``200 {}``.
    """

    seen: list[Seen] = field(default_factory=list)
    script: dict[tuple[str, str], list[Responder]] = field(default_factory=dict)

    def on(self, method: str, path: str, *responders: Responder) -> None:
        self.script[(method, path)] = list(responders)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            Seen(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        responders = self.script.get((request.method, request.path))
        if not responders:
            return web.json_response({})
        responder = responders.pop(0) if len(responders) > 1 else responders[0]
        result = responder(request, body)
        if asyncio.iscoroutine(result):
            result = await result
        return result  # type: ignore[return-value]


def reply(status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> Responder:
    def respond(_request: web.Request, _body: bytes) -> web.StreamResponse:
        if body is None:
            return web.Response(status=status, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    return respond


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[Recorder, str]]:
    rec = Recorder()
    async with serve(rec.app()) as url:
        yield rec, url


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """Accepts TCP connections, reads, never answers."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                pass

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

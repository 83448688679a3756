"""The dev server as an object: ``async with DevServer(DevServerConfig(port=0)) as s``.

Builds the aiohttp application, attaches the python-socketio ``AsyncServer`` at
``/socket.io``, opens the SQLite file (in ``--data`` or a temporary directory that
is removed on stop) and serves on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from types import TracebackType
from typing import Any

import socketio
from aiohttp import web

from peerwave_tui.devserver import (
    routes_account,
    routes_channels,
    routes_items,
    routes_keys,
    routes_people,
    routes_sessions,
)
from peerwave_tui.devserver.auth import DAY_MS
from peerwave_tui.devserver.config import DevServerConfig
from peerwave_tui.devserver.context import ServerContext
from peerwave_tui.devserver.db import DB_FILE_NAME, Database
from peerwave_tui.devserver.httpkit import MAX_BODY_BYTES, allow_socket_origin, build_middlewares
from peerwave_tui.devserver.messaging import Messaging
from peerwave_tui.devserver.ratelimit import RateLimiter
from peerwave_tui.devserver.sockets import SocketEvents

log = logging.getLogger(__name__)

PURGE_INTERVAL_S = 60.0
SHUTDOWN_TIMEOUT_S = 0.5  # only idle long-polls can still be open then


class TransportLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The Socket.IO / Engine.IO libraries' logger: warnings and errors only, and one
    line each. A malformed packet (bad JSON, absurd nesting) makes them log an
    exception; that is bad input, not a bug, so it never prints a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("peerwave_tui.devserver.transport"), {})

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's API
        return level >= logging.WARNING and self.logger.isEnabledFor(level)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        if kwargs.pop("exc_info", None):
            error = sys.exc_info()[1]
            if error is not None:
                msg = f"{msg} ({error.__class__.__name__})"
        return msg, kwargs


def build_app(config: DevServerConfig, db: Database) -> tuple[web.Application, ServerContext]:
    """The aiohttp application with every route and socket event wired up."""
    transport_log = TransportLog()
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins=allow_socket_origin,
        # One event at a time per socket, in arrival order (sendItem before deleteItem).
        async_handlers=False,
        logger=transport_log,
        engineio_logger=transport_log,
        max_http_buffer_size=MAX_BODY_BYTES,
    )
    limiter = RateLimiter(config.now_ms) if config.rate_limits else None
    app = web.Application(middlewares=build_middlewares(limiter), client_max_size=MAX_BODY_BYTES)
    sio.attach(app, socketio_path="socket.io")
    ctx = ServerContext.build(config, db, sio)
    messaging = Messaging(ctx)
    SocketEvents(ctx, messaging).register()
    routes_account.add_routes(app, ctx)
    routes_sessions.add_routes(app, ctx)
    routes_keys.add_routes(app, ctx)
    routes_people.add_routes(app, ctx)
    routes_channels.add_routes(app, ctx)
    routes_items.add_routes(app, ctx, messaging)
    return app, ctx


class DevServer:
    """A PeerWave-compatible server; ``start()`` binds, then ``url``/``port`` are known."""

    def __init__(self, config: DevServerConfig) -> None:
        self.config = config
        self._runner: web.AppRunner | None = None
        self._ctx: ServerContext | None = None
        self._db: Database | None = None
        self._temp_dir: Path | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self.port: int | None = None
        self.data_dir: Path | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the dev server is not started")
        host = self.config.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def context(self) -> ServerContext:
        """The running server's state (tests use it to look inside)."""
        if self._ctx is None:
            raise RuntimeError("the dev server is not started")
        return self._ctx

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the dev server is already started")
        if self.config.data_dir is not None:
            self.data_dir = self.config.data_dir
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        else:
            self._temp_dir = self.data_dir = Path(tempfile.mkdtemp(prefix="peerwave-devserver-"))
        try:
            self._db = Database(self.data_dir / DB_FILE_NAME)
            app, self._ctx = build_app(self.config, self._db)
            self._runner = web.AppRunner(
                app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S
            )
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.config.host, self.config.port)
            await site.start()
        except BaseException:
            await self.stop()
            raise
        self.port = int(self._runner.addresses[0][1])
        if self.config.purge_days is not None:
            self.purge_now()
            self._purge_task = asyncio.get_running_loop().create_task(self._purge_loop())
        log.info("dev server listening on %s (data in %s)", self.url, self.data_dir)

    def purge_now(self) -> int:
        """Delete items older than ``purge_days`` (no-op without it); returns the count."""
        if self.config.purge_days is None or self._ctx is None:
            return 0
        cutoff = self._ctx.now_ms() - self.config.purge_days * DAY_MS
        purged = self._ctx.messages.purge(cutoff)
        if purged:
            log.info("purged %d items older than %d days", purged, self.config.purge_days)
        return purged

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(PURGE_INTERVAL_S)
            try:
                self.purge_now()
            except Exception:  # noqa: BLE001 - keep serving; try again next round
                log.exception("purge failed")

    async def stop(self) -> None:
        """Disconnect every socket, stop serving, close the file; idempotent."""
        if self._purge_task is not None:
            self._purge_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purge_task
            self._purge_task = None
        if self._ctx is not None:
            for sid in self._ctx.hub.sids():
                with contextlib.suppress(Exception):
                    await self._ctx.sio.disconnect(sid)
            with contextlib.suppress(Exception):
                await self._ctx.sio.shutdown()
            await self._ctx.otp_delivery.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._db is not None:
            self._db.close()
            self._db = None
        self._ctx = None
        self.port = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    async def __aenter__(self) -> DevServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

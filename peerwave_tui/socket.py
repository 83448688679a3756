"""SocketService: the Socket.IO half of one server connection (protocol.md §3.3–§6).

One instance per (server, account); nothing is shared. A supervisor task owns the
connection: each attempt builds a fresh ``socketio.AsyncClient`` (``reconnection=False``:
python-socketio does not reconnect after a server-initiated disconnect, so we do it
ourselves, with capped exponential backoff and full jitter), registers every handler,
then runs ``authenticate`` → ``authenticated`` → ``clientReady``. Authentication
failures stop the supervisor and say why.

Inbound handlers only validate (into ``wire`` dataclasses) and append to a bounded
inbox; the client's single consumer reads ``(name, payload)`` pairs from ``events()``.
See ``socket_inbox`` for what happens when it is full. The names:

- ``connected`` (``SocketSession``): after every ``clientReady``; run the pending fetch.
  A ``receiveSenderKeyDistribution`` may come before it (the server sends those at once).
- ``resync`` (``ResyncNeeded``): events were dropped while the inbox was full; run the
  pending fetch.
- ``stopped`` (``AuthError``): authentication was refused; the supervisor has ended.
- ``receiveItem`` (``IncomingItem``), ``deliveryReceipt``, ``pendingMessagesAvailable``,
  ``groupItem``, ``groupItemDelivered``, ``groupItemError``, ``groupItemReadUpdate``,
  ``receiveSenderKeyDistribution``: the server's events, parsed.
- ``presence`` (``PresenceUpdate``): both ``presence:update`` and
  ``presence:user_disconnected``.

State changes go to ``on_state(state, detail, retry_at)``: CONNECTING, CONNECTED,
OFFLINE (``detail`` says why; a second OFFLINE carries ``retry_at`` for a countdown),
ERROR (stopped, ``detail`` says why) and CLOSED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import socketio

from peerwave_tui.api_transport import normalize_base_url
from peerwave_tui.errors import (
    AuthError,
    LoggedOutError,
    NetworkError,
    NotConnectedError,
    PeerwaveError,
    ProtocolError,
)
from peerwave_tui.models import ConnectionState
from peerwave_tui.socket_attempt import Attempt, end_task, server_clock_ms
from peerwave_tui.socket_inbox import (
    CONNECTED,
    INBOUND_EVENTS,
    PRESENCE,
    RESYNC,
    STOPPED,
    InboundEvent,
    Inbox,
    SocketSession,
)
from peerwave_tui.socket_replies import Replies, error_detail
from peerwave_tui.wire import events as we
from peerwave_tui.wire import http_errors as he
from peerwave_tui.wire.fields import format_time
from peerwave_tui.wire.signing import SOCKET_AUTH_PATH, Credentials, auth_headers

log = logging.getLogger(__name__)

StateCallback = Callable[[ConnectionState, str | None, datetime | None], None]

# A connection that lasted this long counts as healthy: the backoff starts over.
STABLE_AFTER = 10.0
# stop(): how long a goodbye to the server may take (a frozen server never answers it),
# and how long the supervisor gets to end once cancelled (more than its bounded
# teardown takes). Past that, its connection is dropped from under it and it is
# cancelled again; one that still runs is left to end alone.
STOP_WAIT = 2.0
STOP_GOODBYE = 0.5
# Socket auth codes that a single retry with a fresh nonce (and clock) may cure.
_RETRY_ONCE = frozenset({"timestamp_expired", "duplicate_nonce"})


class _Retry(Exception):
    """This attempt failed in a way the backoff should handle (reason is readable)."""


class _AuthRejected(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class SocketStats:
    """Counters for tests and diagnostics (never payload content)."""

    malformed: int = 0
    dropped_full: int = 0
    connects: int = 0


class SocketService:
    """The socket of one server for one account."""

    def __init__(
        self,
        base_url: str,
        credentials_provider: Callable[[], Credentials | None],
        *,
        queue_size: int = 2000,
        handshake_timeout: float = 20.0,
        request_timeout: float = 15.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        on_state: StateCallback | None = None,
        clock_ms: Callable[[], int] | None = None,
        ready_gate: Callable[[SocketSession], Awaitable[None]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.host = urlsplit(self.base_url).netloc
        self._credentials = credentials_provider
        self._handshake_timeout = handshake_timeout
        self._request_timeout = request_timeout
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._on_state = on_state
        self._clock_ms = clock_ms
        self._clock_offset_ms = 0
        self._ready_gate = ready_gate
        self._rng = rng or random.Random()
        self._inbox = Inbox(queue_size, on_drop=self._count_drop)
        self._emit_lock = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._attempt: Attempt | None = None
        self._replies = Replies(self.host, request_timeout)
        self._wake = asyncio.Event()
        self._closed = False
        self.stats = SocketStats()
        self.state = ConnectionState.CLOSED
        self.state_detail: str | None = None
        self.next_retry_at: datetime | None = None
        self.last_error: PeerwaveError | None = None
        self.session: SocketSession | None = None
        # The libraries would add a stderr handler to their own loggers when given
        # ``False``; ours propagate to the app's log file instead, quietly.
        self._lib_logger = logging.getLogger(f"{__name__}.library")
        if self._lib_logger.level == logging.NOTSET:
            self._lib_logger.setLevel(logging.WARNING)

    # --- public state ------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Ready for emits: authenticated, ``clientReady`` sent, not known to be lost."""
        attempt = self._attempt
        return (
            self.state is ConnectionState.CONNECTED
            and attempt is not None
            and not attempt.lost.is_set()
        )

    @property
    def user_id(self) -> str | None:
        return self.session.user_id if self.session else None

    @property
    def device_id(self) -> int | None:
        return self.session.device_id if self.session else None

    @property
    def running(self) -> bool:
        return self._supervisor is not None and not self._supervisor.done()

    def events(self) -> AsyncIterator[InboundEvent]:
        """``(name, parsed)`` in arrival order until ``stop()``; one consumer only."""
        return self._inbox.iterate()

    def take_ready(self, name: str, limit: int) -> list[Any]:
        """Up to ``limit`` more payloads of ``name`` waiting at the head of the inbox
        (for batching; stops at the first other event so order is kept)."""
        return self._inbox.take_ready(name, limit)

    @property
    def backlog(self) -> int:
        return len(self._inbox)

    def now_ms(self) -> int:
        base = self._clock_ms() if self._clock_ms is not None else int(time.time() * 1000)
        return base + self._clock_offset_ms

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Start (or, after an authentication stop, restart) the supervisor; idempotent."""
        if self._closed:
            raise NetworkError(f"The connection to {self.host} was closed.")
        if self.running:
            return
        self.last_error = None
        self._supervisor = asyncio.create_task(self._supervise(), name=f"socket:{self.host}")

    async def stop(self) -> None:
        """Disconnect and end ``events()``; idempotent, leaves no task behind, and
        returns within a few seconds even when the server never answers."""
        if self._closed:
            return
        self._closed = True
        task, self._supervisor = self._supervisor, None
        if task is not None:
            await end_task(task, STOP_WAIT, self._abort_attempt, f"socket {self.host}")
        self._replies.fail_all(NotConnectedError(f"The connection to {self.host} was closed."))
        self._inbox.close()
        self._set_state(ConnectionState.CLOSED, None)

    async def _abort_attempt(self) -> None:
        attempt = self._attempt
        if attempt is not None:
            await attempt.abort()

    def retry_now(self) -> None:
        """Cut the current backoff wait short (a "retry now" button)."""
        self._wake.set()

    # --- supervisor ----------------------------------------------------------------

    async def _supervise(self) -> None:
        failures = 0
        auth_retry_used = False
        while not self._closed:  # a cancel swallowed by a library must not reconnect
            self._set_state(ConnectionState.CONNECTING, None)
            refused: str | None = None
            try:
                await self._run_connection()
                reason = self._attempt_reason()
            except _AuthRejected as exc:
                refused, reason = exc.code, ""
            except _Retry as exc:
                reason = str(exc)
            except PeerwaveError as exc:
                reason = str(exc)
            except Exception as exc:  # a library surprise must not end the supervisor
                log.warning("socket %s: attempt failed (%s)", self.host, type(exc).__name__)
                reason = f"the connection to {self.host} failed"
            except BaseException:  # cancelled by stop()
                await self._end_attempt(goodbye=STOP_GOODBYE)
                raise
            attempt = self._attempt
            connected_at = attempt.connected_at if attempt is not None else None
            if self.state is ConnectionState.CONNECTED:
                self._set_state(ConnectionState.OFFLINE, reason)  # at once, before teardown
            await self._end_attempt()
            if refused is not None:
                if refused in _RETRY_ONCE and not auth_retry_used:
                    auth_retry_used = True
                    if refused == "timestamp_expired":
                        await self._learn_clock_offset()
                    continue
                self._stop_for_auth(refused)
                return
            if connected_at is not None and time.monotonic() - connected_at >= STABLE_AFTER:
                failures = 0
                auth_retry_used = False
            delay = self._rng.uniform(
                0, min(self._backoff_cap, self._backoff_base * 2 ** min(failures, 30))
            )
            failures += 1
            self.next_retry_at = datetime.now(UTC) + timedelta(seconds=delay)
            log.info("socket %s down; retry in %.1f s", self.host, delay)
            self._set_state(ConnectionState.OFFLINE, reason, self.next_retry_at)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self.next_retry_at = None

    def _attempt_reason(self) -> str:
        attempt = self._attempt
        return attempt.lost_reason if attempt is not None else "the connection was lost"

    def _stop_for_auth(self, code: str) -> None:
        if code == "client_not_found":
            error: AuthError = LoggedOutError(
                401,
                f"{self.host} no longer knows this device (it was removed). Log in again.",
                code,
            )
        else:
            # The socket names two codes differently from HTTP (protocol.md §3.4).
            http_code = {
                "timestamp_expired": "request_expired",
                "duplicate_nonce": "duplicate_request",
            }
            error = he.auth_failure(self.host, http_code.get(code, code), None)
        log.warning("socket %s: authentication refused (%s); not retrying", self.host, code)
        self.last_error = error
        self.session = None
        self._inbox.put_control(STOPPED, error)
        self._set_state(ConnectionState.ERROR, str(error))

    async def _run_connection(self) -> None:
        """One attempt: connect, authenticate, get ready, then wait until it is lost."""
        creds = self._credentials()
        if creds is None:
            raise _AuthRejected("no_session")
        attempt = self._attempt = Attempt(self._lib_logger)
        sio = attempt.sio
        self._register_handlers(sio, attempt)  # all of them before `authenticate`
        try:
            await attempt.connect(self.base_url, self._handshake_timeout)
        except TimeoutError:
            raise _Retry(f"{self.host} did not complete the connection in time") from None
        except (socketio.exceptions.ConnectionError, aiohttp.ClientError, OSError):
            raise _Retry(f"cannot reach {self.host}") from None
        payload = auth_headers(creds, self.now_ms(), SOCKET_AUTH_PATH, b"")
        await self._emit_on(sio, "authenticate", payload)
        result = await self._await_or_lost(attempt, attempt.auth, "authentication answer")
        if result is None:
            raise _Retry(f"{self.host} sent a malformed authentication answer")
        if isinstance(result, we.AuthFailure):
            raise _AuthRejected(result.error)
        self.session = SocketSession(result.user_id, result.device_id, result.client_id)
        if self._ready_gate is not None:
            await self._ready_gate(self.session)
        await self._emit_on(sio, "clientReady", {"timestamp": self.now_ms()})
        self.stats.connects += 1
        attempt.connected_at = time.monotonic()
        self._set_state(ConnectionState.CONNECTED, None)
        self._inbox.put_control(CONNECTED, self.session)
        await attempt.lost.wait()

    async def _await_or_lost(self, attempt: Attempt, fut: asyncio.Future[Any], what: str) -> Any:
        lost = asyncio.ensure_future(attempt.lost.wait())
        try:
            done, _ = await asyncio.wait(
                {fut, lost}, timeout=self._handshake_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            lost.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lost
        if fut in done:
            return fut.result()
        if attempt.lost.is_set():
            raise _Retry(attempt.lost_reason)
        raise _Retry(f"{self.host} sent no {what} in time")

    async def _end_attempt(self, *, goodbye: float | None = None) -> None:
        attempt, self._attempt = self._attempt, None
        self._replies.fail_all(NotConnectedError(f"The connection to {self.host} was lost."))
        if attempt is not None:
            if goodbye is None:
                await attempt.close()
            else:
                await attempt.close(goodbye=goodbye)

    async def _learn_clock_offset(self) -> None:
        """After ``timestamp_expired``: take the server's clock from an HTTP ``Date``."""
        server_ms = await server_clock_ms(self.base_url, self._request_timeout)
        if server_ms is not None:
            base = self._clock_ms() if self._clock_ms is not None else int(time.time() * 1000)
            self._clock_offset_ms = server_ms - base

    # --- inbound -------------------------------------------------------------------

    def _register_handlers(self, sio: socketio.AsyncClient, attempt: Attempt) -> None:
        sio.on("authenticated", lambda *args: self._on_authenticated(attempt, args))
        sio.on("disconnect", lambda *args: self._on_disconnect(attempt, args))
        sio.on("pendingMessagesResponse", self._on_pending_page)
        sio.on("fetchPendingMessagesError", self._on_pending_error)
        for event, (parser, name) in INBOUND_EVENTS.items():
            sio.on(event, self._inbound_handler(event, parser, name))

    def _inbound_handler(
        self, event: str, parser: Callable[[object], object], name: str
    ) -> Callable[..., None]:
        def handle(*args: Any) -> None:
            parsed = self._validate(event, parser, args)
            if parsed is not None:
                self._inbox.put(name, parsed)

        return handle

    def _validate(self, event: str, parser: Callable[[object], Any], args: tuple[Any, ...]) -> Any:
        """Parse one event payload; malformed ones are dropped with a content-free log line."""
        try:
            if len(args) != 1:
                raise ProtocolError("wrong number of arguments")
            return parser(args[0])
        except Exception as exc:  # never let a hostile payload escape into socketio
            self.stats.malformed += 1
            log.warning(
                "socket %s: dropped a malformed %s event (%s)", self.host, event, type(exc).__name__
            )
            return None

    def _on_authenticated(self, attempt: Attempt, args: tuple[Any, ...]) -> None:
        # None (malformed) is answered with a retry, not a stop: it says nothing about
        # our credentials.
        parsed = self._validate("authenticated", we.parse_authenticated, args)
        if not attempt.auth.done():
            attempt.auth.set_result(parsed)

    def _on_disconnect(self, attempt: Attempt, args: tuple[Any, ...]) -> None:
        reason = args[0] if args and isinstance(args[0], str) else ""
        attempt.lost_reason = (
            f"{self.host} closed the connection"
            if reason == "server disconnect"
            else f"the connection to {self.host} was lost"
        )
        attempt.lost.set()
        self._replies.fail_all(NotConnectedError(f"The connection to {self.host} was lost."))

    def _on_pending_page(self, *args: Any) -> None:
        self._replies.on_page(
            self._validate("pendingMessagesResponse", we.parse_pending_page, args)
        )

    def _on_pending_error(self, *args: Any) -> None:
        self._replies.on_page_error(error_detail(args))

    def _count_drop(self, name: str) -> None:
        self.stats.dropped_full += 1
        log.warning("socket %s: inbox full, dropped a %s event", self.host, name)

    # --- outbound --------------------------------------------------------------------

    def _ready_client(self) -> socketio.AsyncClient:
        attempt = self._attempt
        if not self.connected or attempt is None or attempt.sio is None:
            raise NotConnectedError(f"Not connected to {self.host} right now.")
        return attempt.sio

    async def _emit_on(
        self,
        sio: socketio.AsyncClient,
        event: str,
        data: Any,
        callback: Callable[..., None] | None = None,
    ) -> None:
        async with self._emit_lock:
            try:
                await sio.emit(event, data, callback=callback)
            except socketio.exceptions.SocketIOError:
                raise NotConnectedError(f"Not connected to {self.host} right now.") from None

    async def emit(self, event: str, data: Any = None) -> None:
        """Emit any event on the ready connection (``NotConnectedError`` otherwise)."""
        await self._emit_on(self._ready_client(), event, data)

    async def send_item(
        self,
        *,
        item_id: str,
        recipient: str,
        recipient_device_id: int,
        type: str,
        payload: str,
        cipher_type: int,
        original_recipient: str,
        timestamp: datetime | None = None,
    ) -> None:
        """One ``sendItem`` (one per target device). No ack exists: watch for the
        ``deliveryReceipt``."""
        data: dict[str, Any] = {
            "itemId": item_id,
            "recipient": recipient,
            "recipientDeviceId": recipient_device_id,
            "type": type,
            "payload": payload,
            "cipherType": cipher_type,
            "originalRecipient": original_recipient,
        }
        if timestamp is not None:
            data["timestamp"] = format_time(timestamp)
        await self.emit("sendItem", data)

    async def send_group_item(
        self,
        *,
        channel_id: str,
        item_id: str,
        payload: str,
        type: str = "message",
        cipher_type: int = 4,
        timestamp: datetime | None = None,
    ) -> None:
        data = {
            "channelId": channel_id,
            "itemId": item_id,
            "type": type,
            "payload": payload,
            "cipherType": cipher_type,
            "timestamp": format_time(timestamp or datetime.now(UTC)),
        }
        await self.emit("sendGroupItem", data)

    async def mark_group_item_read(self, item_id: str) -> None:
        await self.emit("markGroupItemRead", {"itemId": item_id})

    async def delete_item(self, item_id: str) -> we.DeleteAck:
        """``deleteItem`` and its ack (rows addressed to this device only)."""
        sio = self._ready_client()
        fut, on_ack = self._replies.new_ack()
        try:
            await self._emit_on(sio, "deleteItem", {"itemId": item_id}, callback=on_ack)
        except BaseException:
            self._replies.forget_ack(fut)
            raise
        return we.parse_delete_ack(await self._replies.wait_ack(fut, "deleting a message"))

    async def delete_items(self, item_ids: list[str]) -> list[we.DeleteAck | PeerwaveError]:
        """``deleteItem`` for each id, emitted in one go, and every ack awaited (one
        timeout for all). An item whose delete failed has its error in its place;
        ``NotConnectedError`` is raised only when nothing could be emitted."""
        if not item_ids:
            return []
        sio = self._ready_client()
        futs: list[asyncio.Future[Any]] = []
        lost: PeerwaveError | None = None
        async with self._emit_lock:
            for item_id in item_ids:
                fut, on_ack = self._replies.new_ack()
                try:
                    await sio.emit("deleteItem", {"itemId": item_id}, callback=on_ack)
                except BaseException as exc:
                    self._replies.forget_ack(fut)
                    if not isinstance(exc, socketio.exceptions.SocketIOError):
                        for sent in futs:
                            self._replies.forget_ack(sent)
                        raise
                    lost = NotConnectedError(f"Not connected to {self.host} right now.")
                    break
                futs.append(fut)
        if not futs:
            raise lost or NotConnectedError(f"Not connected to {self.host} right now.")
        answers = await self._replies.wait_acks(futs, "deleting messages")
        results: list[we.DeleteAck | PeerwaveError] = []
        for answer in answers:
            if isinstance(answer, PeerwaveError):
                results.append(answer)
                continue
            try:
                results.append(we.parse_delete_ack(answer))
            except PeerwaveError as exc:
                results.append(exc)
        if lost is not None:
            results.extend(lost for _ in item_ids[len(futs) :])
        return results

    async def fetch_pending(self, limit: int = 50, offset: int = 0) -> we.PendingPage:
        """One page of ``fetchPendingMessagesV2`` (protocol.md §5.5)."""
        sio = self._ready_client()
        request = self._replies.expect_page(offset)
        try:
            await self._emit_on(sio, "fetchPendingMessagesV2", {"limit": limit, "offset": offset})
        except BaseException:
            self._replies.forget_page(request)
            raise
        return await self._replies.wait_page(request)

    # --- state -------------------------------------------------------------------------

    def _set_state(
        self, state: ConnectionState, detail: str | None, retry_at: datetime | None = None
    ) -> None:
        self.state = state
        self.state_detail = detail
        if self._on_state is None:
            return
        try:
            self._on_state(state, detail, retry_at)
        except Exception:
            log.exception("socket %s: state callback failed", self.host)


__all__ = [
    "CONNECTED",
    "PRESENCE",
    "RESYNC",
    "STOPPED",
    "InboundEvent",
    "SocketService",
    "SocketSession",
    "SocketStats",
]

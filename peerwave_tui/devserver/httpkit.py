"""HTTP plumbing shared by every route: middlewares, JSON bodies, signed handlers.

Bad input never takes the server down: oversize bodies get 413, foreign origins
403, malformed JSON and wrong types 400, unknown paths 404, and a failing handler
500 ``{error: "internal_error"}`` (logged, the process carries on). A client that
leaves mid-request is one INFO line, not an error with a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from peerwave_tui.devserver.auth import Authenticator, Caller
from peerwave_tui.devserver.ratelimit import RateLimiter
from peerwave_tui.devserver.util import ApiError, InvalidInput, require_dict

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024
APP_SECRET_HEADER = "X-PeerWave-App-Secret"
APP_SECRET = "peerwave-mobile-app"
SOCKET_IO_PREFIX = "/socket.io"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SignedHandler = Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def is_loopback_origin(origin: str | None) -> bool:
    """``http://localhost:8080``, ``http://127.0.0.1``, ``http://[::1]:3000`` (any port)."""
    if not origin:
        return False
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    return host in LOOPBACK_HOSTS


def allow_socket_origin(origin: str | None, environ: Any = None) -> bool:
    """Engine.IO's origin check: no Origin at all, or a loopback one."""
    return origin is None or is_loopback_origin(origin)


async def read_body(request: web.Request) -> bytes:
    """The raw body (at most 2 MB), read once and cached by aiohttp."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, {"error": "payload_too_large"}) from None


async def read_json(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}`` when ``optional``."""
    raw = await read_body(request)
    if not raw.strip():
        if optional:
            return {}
        raise InvalidInput("a JSON body is required")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInput("malformed JSON") from None
    return require_dict(value)


def signed(auth: Authenticator, handler: SignedHandler) -> Handler:
    """Wrap a handler that needs HMAC authentication (protocol.md section 3)."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        headers = request.headers
        if not (headers.get("X-Client-ID") and headers.get("X-Signature")):
            raise ApiError(401, {"error": "unauthorized", "message": "Authentication required"})
        body = await read_body(request)
        # The path as sent (still percent-encoded), without the query: what the
        # PeerWave server signs (``req.originalUrl.split('?')[0]``).
        caller = auth.verify_http(headers, request.rel_url.raw_path, body)
        return await handler(request, caller)

    return wrapper


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _client_ip(request: web.Request) -> str:
    return request.remote or "unknown"


def build_middlewares(limiter: RateLimiter | None) -> list[Any]:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return json_response(exc.body, exc.status, exc.headers)
        except InvalidInput as exc:
            return json_response({"error": str(exc)}, 400)
        except web.HTTPRequestEntityTooLarge:
            return json_response({"error": "payload_too_large"}, 413)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return json_response({"error": exc.reason}, exc.status, _allow_header(exc))
        except Exception as exc:  # noqa: BLE001 - the server must carry on after any handler bug
            if isinstance(exc, ConnectionError) and _client_gone(request):
                # The client left mid-request, e.g. in the middle of a websocket
                # upgrade (aiohttp: "Cannot write to closing transport", raised out of
                # engineio's handler): network life, not a server bug. The answer
                # below never arrives; aiohttp drops it quietly.
                log.info(
                    "client gone during %s %s (%s)",
                    request.method,
                    request.path,
                    type(exc).__name__,
                )
                return json_response({"error": "connection_lost"}, 500)
            log.exception("internal error in %s %s", request.method, request.path)
            return json_response({"error": "internal_error"}, 500)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Body size and the Origin rule; Engine.IO does its own origin check."""
        if request.path.startswith(SOCKET_IO_PREFIX + "/"):
            return await handler(request)
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            raise ApiError(413, {"error": "payload_too_large"})
        origin = request.headers.get("Origin")
        if (
            origin is not None
            and not is_loopback_origin(origin)
            and request.headers.get(APP_SECRET_HEADER) != APP_SECRET
        ):
            raise ApiError(403, {"error": "Not allowed by CORS"})
        return await handler(request)

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        assert limiter is not None
        path, ip = request.path, _client_ip(request)
        wait = limiter.admit(path, ip)
        if wait is not None:
            raise ApiError(
                429,
                {"error": "Too many requests, please try again later."},
                {"Retry-After": str(wait)},
            )
        try:
            response = await handler(request)
        except Exception:
            limiter.record_failure(path, ip)  # errors travel as exceptions to `errors`
            raise
        if response.status >= 400:
            limiter.record_failure(path, ip)
        return response

    chain: list[Any] = [errors, guard]
    if limiter is not None:
        chain.append(rate_limit)
    return chain


def _allow_header(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None

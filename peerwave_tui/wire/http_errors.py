"""HTTP failures → the exception tree (protocol.md §0, §3.2, §9).

Pure functions, so every mapping can be tested without a network. Messages name the
server (host only) and the server's own short explanation, never a secret or a body.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

from peerwave_tui.errors import (
    ApiError,
    AuthError,
    LoggedOutError,
    LoginRejectedError,
    RateLimitedError,
    ServerDefectError,
    ServerFailureError,
    SessionExpiredError,
)

_MAX_DETAIL_CHARS = 200

NO_SESSION_HINT = (
    "The server {host} accepted the login but cannot keep the session (a known defect of "
    "fresh PeerWave installations), so nothing else works yet. No further backup codes were "
    "used. Ask the server's operator to run this once on its database, then log in again: "
    "ALTER TABLE client_sessions ADD COLUMN device_id INTEGER"
)


def body_json(raw: bytes) -> Any:
    """The body as JSON, or ``None`` when it is not JSON."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def error_code(body: Any) -> str | None:
    """The ``error`` field when it is a short machine code such as ``no_session``."""
    if isinstance(body, Mapping):
        code = body.get("error")
        if isinstance(code, str) and 0 < len(code) <= 64 and code.isprintable():
            return code
    return None


def server_detail(body: Any) -> str | None:
    """The server's own explanation (``error`` or ``message``), made safe to show."""
    if not isinstance(body, Mapping):
        return None
    for key in ("message", "error"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            cleaned = " ".join("".join(c if c.isprintable() else " " for c in value).split())
            if len(cleaned) > _MAX_DETAIL_CHARS:
                cleaned = cleaned[: _MAX_DETAIL_CHARS - 1] + "…"
            return cleaned
    return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 86_400))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, min(when.timestamp() - now, 86_400.0))


def date_header_ms(value: str | None) -> int | None:
    """The response ``Date`` header in ms (for correcting our clock offset)."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return int(when.timestamp() * 1000) if when is not None else None


def _with_detail(text: str, detail: str | None) -> str:
    return f"{text} (server says: {detail})" if detail else text


def auth_failure(host: str, code: str | None, detail: str | None) -> AuthError:
    """A 401 on a signed request, after any retry it allows has been spent."""
    if code == "no_session":
        return LoggedOutError(
            401,
            f"You are logged out of {host}: it has no session for this device. Log in again.",
            code,
        )
    if code == "invalid_signature":
        return LoggedOutError(
            401,
            f"{host} did not accept this device's credentials (invalid signature). Log in again.",
            code,
        )
    if code == "session_expired":
        return SessionExpiredError(401, f"Your session on {host} has expired. Log in again.", code)
    if code == "request_expired":
        return AuthError(
            401,
            f"This computer's clock differs from the clock of {host} by more than 5 minutes. "
            "Set the clock right and try again.",
            code,
        )
    if code == "duplicate_request":
        return AuthError(401, f"{host} refused a repeated request; try again.", code)
    if code == "missing_auth_headers":
        return AuthError(401, f"{host} says the request was not signed completely.", code)
    return AuthError(
        401, _with_detail(f"{host} refused the request as unauthorized.", detail), code
    )


def defect_error(host: str) -> ServerDefectError:
    return ServerDefectError(401, NO_SESSION_HINT.format(host=host), "no_session")


def http_error(
    host: str,
    status: int,
    body: Any,
    headers: Mapping[str, str],
    *,
    signed: bool,
    login: str | None = None,
) -> ApiError:
    """The exception for a non-2xx answer (401 retries are the caller's business).

    ``login`` names the credential of a login route ("backup code", "magic key", ...):
    a 4xx there means that credential was refused, not that we are logged out.
    """
    code = error_code(body)
    detail = server_detail(body)
    if login is not None and 400 <= status < 500 and status != 429:
        return LoginRejectedError(
            status, _with_detail(f"{host} did not accept the {login}.", detail), code
        )
    if status == 401 and signed:
        return auth_failure(host, code, detail)
    if status == 500 and code == "client_not_found" and signed:
        return LoggedOutError(
            500,
            f"{host} no longer knows this device (it was removed). Log in again.",
            code,
        )
    if status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        when = f" Try again in {int(retry_after + 0.999)} s." if retry_after is not None else ""
        return RateLimitedError(
            f"{host} is limiting requests from this address.{when}", retry_after
        )
    if 500 <= status <= 599:
        return ServerFailureError(
            status,
            _with_detail(f"{host} failed to handle the request (HTTP {status}).", detail),
            code,
        )
    if status == 403:
        return ApiError(
            status, _with_detail(f"{host} refused the request (forbidden).", detail), code
        )
    if status == 404:
        return ApiError(
            status, _with_detail(f"{host} does not know that (not found).", detail), code
        )
    if status == 413:
        return ApiError(status, f"{host} refused the request as too large.", code)
    return ApiError(
        status, _with_detail(f"{host} refused the request (HTTP {status}).", detail), code
    )

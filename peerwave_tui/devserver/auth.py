"""HMAC request signing (protocol.md sections 3.1, 3.2 and 3.4) and session lifetimes.

Checks run in the PeerWave server's order: headers, timestamp window, nonce (stored
before the session is even looked up), session, expiry, signature. Socket
authentication uses the same checks with its own error names and ignores expiry.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from peerwave_tui.devserver.store_accounts import Accounts
from peerwave_tui.devserver.util import ApiError, same_text

DAY_MS = 24 * 60 * 60 * 1000
BACKUP_CODE_SESSION_MS = 90 * DAY_MS
MAGIC_KEY_SESSION_MS = 30 * DAY_MS
SLIDE_THRESHOLD_MS = 7 * DAY_MS
SLIDE_TO_MS = 90 * DAY_MS
TIMESTAMP_WINDOW_MS = 5 * 60 * 1000
NONCE_MEMORY_MS = 10 * 60 * 1000
SOCKET_AUTH_PATH = "/socket.io/auth"
MAX_HEADER_LEN = 512


@dataclass(frozen=True)
class Caller:
    """Who a signed request or an authenticated socket belongs to."""

    user_id: str
    client_id: str
    device_id: int


def signature(
    secret: str, client_id: str, timestamp: str, nonce: str, path: str, body: bytes
) -> str:
    """Lowercase hex HMAC-SHA256 of ``{clientId}:{timestamp}:{nonce}:{path}:{body}``."""
    message = f"{client_id}:{timestamp}:{nonce}:{path}:".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


class NonceMemory:
    """Nonces seen in the last ten minutes (in memory, like the PeerWave server's cache)."""

    def __init__(self, ttl_ms: int = NONCE_MEMORY_MS) -> None:
        self._ttl_ms = ttl_ms
        self._seen: OrderedDict[str, int] = OrderedDict()

    def check_and_add(self, nonce: str, now_ms: int) -> bool:
        """True when the nonce is fresh (and now remembered), False on reuse."""
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            if now_ms - seen_at < self._ttl_ms and seen_at <= now_ms:
                break
            del self._seen[oldest]
        if nonce in self._seen:
            return False
        self._seen[nonce] = now_ms
        return True


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, {"error": code, "message": message})


_SOCKET_ERRORS = {
    "request_expired": "timestamp_expired",
    "duplicate_request": "duplicate_nonce",
    "no_session": "no_session",
    "invalid_signature": "invalid_signature",
    "client_not_found": "client_not_found",
}


class SocketAuthError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Authenticator:
    def __init__(self, accounts: Accounts, now_ms: Callable[[], int]) -> None:
        self._accounts = accounts
        self._now_ms = now_ms
        self._nonces = NonceMemory()

    def verify_http(self, headers: Mapping[str, str], path: str, body: bytes) -> Caller:
        """Check a request with both ``X-Client-ID`` and ``X-Signature``; raises ApiError."""
        client_id = headers.get("X-Client-ID", "")
        timestamp = headers.get("X-Timestamp", "")
        nonce = headers.get("X-Nonce", "")
        sig = headers.get("X-Signature", "")
        if not (client_id and nonce and sig and _parse_ts(timestamp)):
            raise _unauthorized("missing_auth_headers", "Missing authentication headers")
        caller = self._verify(client_id, timestamp, nonce, sig, path, body, check_expiry=True)
        self._slide(caller.client_id)
        return caller

    def verify_socket(self, payload: Mapping[str, object]) -> Caller:
        """Check an ``authenticate`` payload; raises SocketAuthError with §3.4 codes."""
        values = [payload.get(k) for k in ("X-Client-ID", "X-Timestamp", "X-Nonce", "X-Signature")]
        if not all(isinstance(v, str) and v and len(v) <= MAX_HEADER_LEN for v in values):
            raise SocketAuthError("invalid_signature")
        client_id, timestamp, nonce, sig = (str(v) for v in values)
        if not _parse_ts(timestamp):
            raise SocketAuthError("timestamp_expired")
        try:
            return self._verify(
                client_id, timestamp, nonce, sig, SOCKET_AUTH_PATH, b"", check_expiry=False
            )
        except ApiError as exc:
            raise SocketAuthError(
                _SOCKET_ERRORS.get(exc.body["error"], "invalid_signature")
            ) from None

    def _verify(
        self,
        client_id: str,
        timestamp: str,
        nonce: str,
        sig: str,
        path: str,
        body: bytes,
        *,
        check_expiry: bool,
    ) -> Caller:
        now = self._now_ms()
        ts = _parse_ts(timestamp)
        if ts is None or abs(now - ts) > TIMESTAMP_WINDOW_MS:
            raise _unauthorized("request_expired", "Request timestamp outside acceptable window")
        if not self._nonces.check_and_add(nonce, now):
            raise _unauthorized("duplicate_request", "Nonce already used (replay attack prevented)")
        session = self._accounts.session(client_id)
        if session is None:
            raise _unauthorized("no_session", "No active session for this client")
        if check_expiry and session.expires_ms < now:
            raise _unauthorized("session_expired", "Session has expired, please re-authenticate")
        expected = signature(session.secret, client_id, timestamp, nonce, path, body)
        if not same_text(expected, sig.lower()):
            raise _unauthorized("invalid_signature", "Authentication signature mismatch")
        device = self._accounts.device(client_id)
        if device is None or device.owner != session.user_uuid:
            raise ApiError(500, {"error": "client_not_found", "message": "Client not found"})
        return Caller(user_id=session.user_uuid, client_id=client_id, device_id=device.device_id)

    def _slide(self, client_id: str) -> None:
        """Sliding extension: with under 7 days left, expiry moves to 90 days from now."""
        session = self._accounts.session(client_id)
        now = self._now_ms()
        if session is not None and session.expires_ms - now < SLIDE_THRESHOLD_MS:
            self._accounts.set_session_expiry(client_id, now + SLIDE_TO_MS)


def _parse_ts(value: str) -> int | None:
    """A decimal ms timestamp (what JavaScript's parseInt accepts, minus junk); 0 is missing."""
    if not value or len(value) > 20 or not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number or None

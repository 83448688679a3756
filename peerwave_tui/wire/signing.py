"""HMAC request signing (protocol.md §3.1) and the credentials it needs."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field

SOCKET_AUTH_PATH = "/socket.io/auth"


@dataclass(frozen=True)
class Credentials:
    """What signs requests for one (server, account). The secret never shows in ``repr``."""

    client_id: str
    session_secret: str = field(repr=False)
    user_id: str
    refresh_token: str | None = field(default=None, repr=False)


def sign(
    client_id: str,
    session_secret: str,
    timestamp_ms: int,
    nonce: str,
    path: str,
    body: bytes,
) -> str:
    """Lowercase hex HMAC-SHA256 of ``{clientId}:{timestamp}:{nonce}:{path}:{body}``.

    The key is the UTF-8 bytes of the secret exactly as the server sent it (never
    decoded), and ``body`` is the exact bytes sent (``b""`` for no body).
    """
    prefix = f"{client_id}:{timestamp_ms}:{nonce}:{path}:".encode()
    key = session_secret.encode("utf-8")
    return hmac.new(key, prefix + body, hashlib.sha256).hexdigest()


def new_nonce() -> str:
    """A fresh nonce for every request, retries included (the server refuses reuse)."""
    return str(uuid.uuid4())


def auth_headers(
    credentials: Credentials, timestamp_ms: int, path: str, body: bytes, nonce: str | None = None
) -> dict[str, str]:
    """The four signing headers; also the exact ``authenticate`` payload of the socket."""
    nonce = nonce or new_nonce()
    return {
        "X-Client-ID": credentials.client_id,
        "X-Timestamp": str(timestamp_ms),
        "X-Nonce": nonce,
        "X-Signature": sign(
            credentials.client_id,
            credentials.session_secret,
            timestamp_ms,
            nonce,
            path,
            body,
        ),
    }

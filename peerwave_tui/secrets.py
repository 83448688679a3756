"""An account's secrets, kept only inside its encrypted store (the ``kv`` table), and
the guard that keeps its HTTP session alive.

Session secret, refresh token and the unused backup codes never touch a config file
or a log; ``repr`` of this object hides them.

``SessionGuard`` runs every signed request of one account (protocol.md §2.4, §3.2):
on ``session_expired`` a session that came with a refresh token (magic-key logins) is
renewed once with ``POST /token/refresh``; both new values are committed to the store
*before* they are used, because the old refresh token is dead from that moment on.
It also remembers when the last signed request succeeded, so the client can make one
a day (the server's sliding extension keeps the session alive).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from peerwave_tui.errors import LoggedOutError, LoginRejectedError, SessionExpiredError
from peerwave_tui.storage.tx import transaction
from peerwave_tui.wire import Credentials

if TYPE_CHECKING:
    from peerwave_tui.api import ApiService
    from peerwave_tui.storage.device_store import DeviceStore

log = logging.getLogger(__name__)

T = TypeVar("T")

_KEYS = ("session_secret", "refresh_token", "user_id", "email", "backup_codes")


@dataclass
class AccountSecrets:
    session_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    user_id: str | None = None
    email: str | None = field(default=None, repr=False)
    backup_codes: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def load(cls, conn: Any) -> AccountSecrets:
        rows = conn.execute(
            f"SELECT key, value FROM kv WHERE key IN ({', '.join('?' * len(_KEYS))})",
            tuple(f"account.{k}" for k in _KEYS),
        ).fetchall()
        values = {k.removeprefix("account."): _text(v) for k, v in rows}
        codes = json.loads(values["backup_codes"]) if values.get("backup_codes") else []
        return cls(
            session_secret=values.get("session_secret"),
            refresh_token=values.get("refresh_token"),
            user_id=values.get("user_id"),
            email=values.get("email"),
            backup_codes=[c for c in codes if isinstance(c, str)],
        )

    def save(self, conn: Any) -> None:
        """Write every value in one transaction (a refresh replaces two at once)."""
        values = {
            "session_secret": self.session_secret,
            "refresh_token": self.refresh_token,
            "user_id": self.user_id,
            "email": self.email,
            "backup_codes": json.dumps(self.backup_codes) if self.backup_codes else None,
        }
        with transaction(conn):
            for key, value in values.items():
                if value is None:
                    conn.execute("DELETE FROM kv WHERE key = ?", (f"account.{key}",))
                else:
                    conn.execute(
                        "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)",
                        (f"account.{key}", value.encode("utf-8")),
                    )

    def credentials(self, client_id: str, fallback_user_id: str | None = None) -> Credentials:
        if self.session_secret is None:
            raise LoggedOutError(401, "This account is not logged in; log in again.", "no_session")
        return Credentials(
            client_id=client_id,
            session_secret=self.session_secret,
            user_id=self.user_id or fallback_user_id or "",
            refresh_token=self.refresh_token,
        )


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    return str(value)


class SessionGuard:
    """Signed requests of one account, with token refresh and a last-success clock."""

    def __init__(
        self,
        store: DeviceStore,
        api: ApiService,
        secrets: AccountSecrets,
        client_id: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._api = api
        self.secrets = secrets
        self._client_id = client_id
        self._clock = clock
        self._lock = asyncio.Lock()
        self.last_success: float | None = None  # clock() of the last signed 2xx
        self.refreshes = 0

    async def call(self, request: Callable[[], Awaitable[T]]) -> T:
        """Run ``request`` (one or more signed requests); after ``session_expired`` renew
        the session once, if it can be, and run it again."""
        used = self._api.credentials
        try:
            result = await request()
        except SessionExpiredError:
            await self._renew(used)
            result = await request()
        self.last_success = self._clock()
        return result

    async def _renew(self, used: Credentials | None) -> None:
        async with self._lock:
            if self._api.credentials is not used:
                return  # another request renewed it meanwhile
            token = self.secrets.refresh_token
            host = self._api.host
            if not token:
                raise SessionExpiredError(
                    401,
                    f"Your session on {host} has expired. Log in again with a backup code "
                    "or a magic key.",
                    "session_expired",
                )
            try:
                result = await self._api.refresh_token(self._client_id, token)
            except LoginRejectedError:
                raise LoggedOutError(
                    401,
                    f"Your session on {host} has expired and could not be renewed. Log in "
                    "again with a backup code or a magic key.",
                    "session_expired",
                ) from None
            renewed = AccountSecrets(
                session_secret=result.session_secret,
                refresh_token=result.refresh_token,
                user_id=self.secrets.user_id or result.user_id,
                email=self.secrets.email,
                backup_codes=list(self.secrets.backup_codes),
            )
            # Both values are committed before either is used: the old token is dead.
            await self._store.run(renewed.save)
            self.secrets.session_secret = renewed.session_secret
            self.secrets.refresh_token = renewed.refresh_token
            self._api.set_credentials(self.secrets.credentials(self._client_id))
            self.refreshes += 1
            log.info("session renewed with the refresh token")

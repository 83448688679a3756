"""An account's secrets, kept only inside its encrypted store (the ``kv`` table).

Session secret, refresh token and the unused backup codes never touch a config file
or a log; ``repr`` of this object hides them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from peerwave_tui.storage.tx import transaction

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


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    return str(value)

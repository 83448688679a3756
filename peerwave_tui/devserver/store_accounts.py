"""Users, backup codes, devices (clients) and HMAC sessions in the SQLite file."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import string
import uuid as uuidlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from peerwave_tui.devserver.db import Database

BACKUP_CODE_COUNT = 10
BACKUP_CODE_LENGTH = 16
_BACKUP_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class User:
    uuid: str
    email: str
    verified: bool
    display_name: str | None
    at_name: str | None
    picture: str | None
    backup_codes_issued: bool
    native_login: bool
    last_seen_ms: int | None


@dataclass(frozen=True)
class Device:
    client_id: str
    owner: str
    device_id: int
    device_info: str | None
    created_ms: int


@dataclass(frozen=True)
class Session:
    client_id: str
    user_uuid: str
    secret: str
    has_refresh_token: bool
    device_info: str | None
    created_ms: int
    expires_ms: int


def _user(row: sqlite3.Row) -> User:
    return User(
        uuid=row["uuid"],
        email=row["email"],
        verified=bool(row["verified"]),
        display_name=row["display_name"],
        at_name=row["at_name"],
        picture=row["picture"],
        backup_codes_issued=bool(row["backup_codes_issued"]),
        native_login=bool(row["native_login"]),
        last_seen_ms=row["last_seen_ms"],
    )


def _device(row: sqlite3.Row) -> Device:
    return Device(
        client_id=row["clientid"],
        owner=row["owner"],
        device_id=int(row["device_id"]),
        device_info=row["device_info"],
        created_ms=int(row["created_ms"]),
    )


def _session(row: sqlite3.Row) -> Session:
    return Session(
        client_id=row["client_id"],
        user_uuid=row["user_uuid"],
        secret=row["secret"],
        has_refresh_token=row["refresh_token_hash"] is not None,
        device_info=row["device_info"],
        created_ms=int(row["created_ms"]),
        expires_ms=int(row["expires_ms"]),
    )


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """43-char base64url (32 random bytes), the dev server's format for every login."""
    return secrets.token_urlsafe(32)


class DisplayNameTaken(Exception):
    pass


class Accounts:
    def __init__(self, db: Database, now_ms: Callable[[], int]) -> None:
        self._db = db
        self._now_ms = now_ms

    # ------------------------------------------------------------------ users

    def user_by_email(self, email: str) -> User | None:
        row = self._db.one("SELECT * FROM users WHERE email = ?", (email.lower(),))
        return None if row is None else _user(row)

    def user_by_uuid(self, user_id: str) -> User | None:
        row = self._db.one("SELECT * FROM users WHERE uuid = ?", (user_id,))
        return None if row is None else _user(row)

    def users_by_uuids(self, user_ids: Iterable[str]) -> list[User]:
        wanted = list(dict.fromkeys(user_ids))
        found = {u.uuid: u for u in map(self.user_by_uuid, wanted) if u is not None}
        return [found[u] for u in wanted if u in found]

    def create_user(self, email: str) -> User:
        user_id = str(uuidlib.uuid4())
        self._db.execute(
            "INSERT INTO users (uuid, email, created_ms) VALUES (?, ?, ?)",
            (user_id, email.lower(), self._now_ms()),
        )
        user = self.user_by_uuid(user_id)
        assert user is not None
        return user

    def set_verified(self, user_id: str) -> None:
        self._db.execute("UPDATE users SET verified = 1 WHERE uuid = ?", (user_id,))

    def set_profile(
        self, user_id: str, display_name: str, at_name: str | None, picture: str | None
    ) -> None:
        taken = self._db.one(
            "SELECT 1 FROM users WHERE display_name = ? AND uuid != ?", (display_name, user_id)
        )
        if taken is not None:
            raise DisplayNameTaken(display_name)
        self._db.execute(
            "UPDATE users SET display_name = ?, at_name = COALESCE(?, at_name),"
            " picture = COALESCE(?, picture) WHERE uuid = ?",
            (display_name, at_name, picture, user_id),
        )

    def mark_native_login(self, user_id: str) -> None:
        self._db.execute("UPDATE users SET native_login = 1 WHERE uuid = ?", (user_id,))

    def set_last_seen(self, user_id: str, ms: int) -> None:
        self._db.execute("UPDATE users SET last_seen_ms = ? WHERE uuid = ?", (ms, user_id))

    def visible_people(self, except_user: str) -> list[User]:
        """Active, verified users with a display name and a native login, not the caller."""
        rows = self._db.all(
            "SELECT * FROM users WHERE verified = 1 AND native_login = 1"
            " AND display_name IS NOT NULL AND uuid != ? ORDER BY display_name, uuid",
            (except_user,),
        )
        return [_user(r) for r in rows]

    # ----------------------------------------------------------- backup codes

    def issue_backup_codes(self, user_id: str) -> list[str] | None:
        """Ten fresh codes, once per account; None when they were issued before."""
        codes = [
            "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(BACKUP_CODE_LENGTH))
            for _ in range(BACKUP_CODE_COUNT)
        ]
        with self._db.transaction():
            issued = self._db.scalar(
                "SELECT backup_codes_issued FROM users WHERE uuid = ?", (user_id,)
            )
            if issued is None or issued:
                return None
            self._db.executemany(
                "INSERT OR IGNORE INTO backup_codes (user_uuid, code_hash) VALUES (?, ?)",
                [(user_id, _hash(c)) for c in codes],
            )
            self._db.execute("UPDATE users SET backup_codes_issued = 1 WHERE uuid = ?", (user_id,))
        return codes

    def consume_backup_code(self, user_id: str, code: str) -> bool:
        cursor = self._db.execute(
            "UPDATE backup_codes SET used = 1 WHERE user_uuid = ? AND code_hash = ? AND used = 0",
            (user_id, _hash(code)),
        )
        return cursor.rowcount == 1

    # ---------------------------------------------------------------- devices

    def device(self, client_id: str) -> Device | None:
        row = self._db.one("SELECT * FROM clients WHERE clientid = ?", (client_id,))
        return None if row is None else _device(row)

    def device_of(self, user_id: str, device_id: int) -> Device | None:
        row = self._db.one(
            "SELECT * FROM clients WHERE owner = ? AND device_id = ?", (user_id, device_id)
        )
        return None if row is None else _device(row)

    def devices_of(self, user_id: str) -> list[Device]:
        rows = self._db.all("SELECT * FROM clients WHERE owner = ? ORDER BY device_id", (user_id,))
        return [_device(r) for r in rows]

    def ensure_device(
        self, user_id: str, client_id: str, device_info: str | None
    ) -> tuple[Device, Device | None]:
        """The device for ``client_id``, created (highest device_id + 1) when new.

        A clientId that belongs to another user is wiped (items, keys, session) and
        reassigned, as on the PeerWave server. Returns ``(device, wiped_old_device)``.
        """
        with self._db.transaction():
            existing = self.device(client_id)
            if existing is not None and existing.owner == user_id:
                if device_info is not None:
                    self._db.execute(
                        "UPDATE clients SET device_info = ? WHERE clientid = ?",
                        (device_info, client_id),
                    )
                return existing, None
            if existing is not None:
                self.delete_device(existing)
            highest = self._db.scalar(
                "SELECT MAX(device_id) FROM clients WHERE owner = ?", (user_id,)
            )
            device_id = int(highest or 0) + 1
            self._db.execute(
                "INSERT INTO clients (clientid, owner, device_id, device_info, created_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (client_id, user_id, device_id, device_info, self._now_ms()),
            )
        device = self.device(client_id)
        assert device is not None
        return device, existing

    def delete_device(self, device: Device) -> None:
        """Remove a device with everything addressed to it: keys, items, session."""
        with self._db.transaction():
            self._db.execute(
                "DELETE FROM items WHERE recipient = ? AND recipient_device = ?",
                (device.owner, device.device_id),
            )
            for table in ("identities", "signed_prekeys", "prekeys"):
                self._db.execute(f"DELETE FROM {table} WHERE client_id = ?", (device.client_id,))
            self._db.execute("DELETE FROM sessions WHERE client_id = ?", (device.client_id,))
            self._db.execute("DELETE FROM clients WHERE clientid = ?", (device.client_id,))

    # --------------------------------------------------------------- sessions

    def create_session(
        self,
        client_id: str,
        user_id: str,
        lifetime_ms: int,
        *,
        with_refresh_token: bool,
        device_info: str | None,
        store: bool = True,
    ) -> tuple[str, str | None]:
        """A new secret (and refresh token) for ``client_id``, replacing any older one.

        ``store=False`` reproduces the PeerWave fresh-install defect: the secret is
        handed out but never saved, so every signed request gets ``no_session``.
        """
        secret = new_secret()
        refresh = secrets.token_urlsafe(48) if with_refresh_token else None
        if store:
            now = self._now_ms()
            self._db.execute(
                "INSERT OR REPLACE INTO sessions (client_id, user_uuid, secret,"
                " refresh_token_hash, device_info, created_ms, expires_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    client_id,
                    user_id,
                    secret,
                    None if refresh is None else _hash(refresh),
                    device_info,
                    now,
                    now + lifetime_ms,
                ),
            )
        return secret, refresh

    def session(self, client_id: str) -> Session | None:
        row = self._db.one("SELECT * FROM sessions WHERE client_id = ?", (client_id,))
        return None if row is None else _session(row)

    def set_session_expiry(self, client_id: str, expires_ms: int) -> None:
        self._db.execute(
            "UPDATE sessions SET expires_ms = ? WHERE client_id = ?", (expires_ms, client_id)
        )

    def refresh_session(
        self, client_id: str, refresh_token: str, lifetime_ms: int
    ) -> tuple[str, str, str] | None:
        """Rotate secret and refresh token; ``(secret, refresh, user_id)`` or None."""
        row = self._db.one(
            "SELECT user_uuid, refresh_token_hash FROM sessions WHERE client_id = ?",
            (client_id,),
        )
        if row is None or row["refresh_token_hash"] is None:
            return None
        if not hmac.compare_digest(row["refresh_token_hash"], _hash(refresh_token)):
            return None
        secret = new_secret()
        refresh = secrets.token_urlsafe(48)
        self._db.execute(
            "UPDATE sessions SET secret = ?, refresh_token_hash = ?, expires_ms = ?"
            " WHERE client_id = ?",
            (secret, _hash(refresh), self._now_ms() + lifetime_ms, client_id),
        )
        return secret, refresh, str(row["user_uuid"])

    def delete_session(self, client_id: str) -> bool:
        cursor = self._db.execute("DELETE FROM sessions WHERE client_id = ?", (client_id,))
        return cursor.rowcount > 0

    def sessions_of(self, user_id: str) -> list[Session]:
        rows = self._db.all(
            "SELECT * FROM sessions WHERE user_uuid = ? ORDER BY created_ms, client_id",
            (user_id,),
        )
        return [_session(r) for r in rows]

    def delete_sessions_except(self, user_id: str, keep_client_id: str) -> int:
        cursor = self._db.execute(
            "DELETE FROM sessions WHERE user_uuid = ? AND client_id != ?",
            (user_id, keep_client_id),
        )
        return cursor.rowcount

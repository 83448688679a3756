"""State the PeerWave server keeps in memory only: OTPs, registration cookie
sessions and magic keys. All of it is forgotten on restart, as there."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from peerwave_tui.devserver.util import same_text

OTP_LIFETIME_MS = 10 * 60 * 1000
OTP_RESEND_WAIT_S = 60
MAGIC_KEY_LIFETIME_MS = 5 * 60 * 1000
COOKIE_NAME = "connect.sid"
MAX_COOKIE_SESSIONS = 10_000


@dataclass
class PendingOtp:
    code: str
    sent_ms: int
    expires_ms: int


class OtpStore:
    def __init__(self, now_ms: Callable[[], int]) -> None:
        self._now_ms = now_ms
        self._otps: dict[str, PendingOtp] = {}

    def wait_seconds(self, email: str) -> int:
        """Seconds until a new OTP may be sent (0: send one now)."""
        pending = self._otps.get(email)
        if pending is None:
            return 0
        left_ms = pending.sent_ms + OTP_RESEND_WAIT_S * 1000 - self._now_ms()
        return max(0, -(-left_ms // 1000))

    def issue(self, email: str) -> str:
        code = str(10_000 + secrets.randbelow(90_000))  # 5 digits, never a leading zero
        now = self._now_ms()
        self._otps[email] = PendingOtp(code, now, now + OTP_LIFETIME_MS)
        return code

    def consume(self, email: str, code: str) -> bool:
        pending = self._otps.get(email)
        if pending is None or pending.expires_ms < self._now_ms():
            return False
        if not same_text(pending.code, code):
            return False
        del self._otps[email]
        return True


@dataclass
class CookieSession:
    email: str | None = None
    user_id: str | None = None  # set once the OTP is verified


@dataclass
class CookieSessions:
    """express-session's ``connect.sid``: only registration steps use it."""

    sessions: dict[str, CookieSession] = field(default_factory=dict)

    def get(self, sid: str | None) -> CookieSession | None:
        return None if sid is None else self.sessions.get(sid)

    def create(self) -> tuple[str, CookieSession]:
        if len(self.sessions) >= MAX_COOKIE_SESSIONS:
            self.sessions.pop(next(iter(self.sessions)))
        sid = secrets.token_urlsafe(24)
        session = self.sessions[sid] = CookieSession()
        return sid, session

    def end(self, sid: str) -> None:
        self.sessions.pop(sid, None)


@dataclass
class MagicKey:
    user_id: str
    expires_ms: int


class MagicKeys:
    """``serverUrl|random|ms|tag`` keys, valid 5 minutes, single use."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        self._now_ms = now_ms
        self._secret = secrets.token_bytes(32)
        self._keys: dict[str, MagicKey] = {}

    def _tag(self, text: str) -> str:
        return hmac.new(self._secret, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def generate(self, server_url: str, user_id: str) -> tuple[str, int]:
        now = self._now_ms()
        self._keys = {k: v for k, v in self._keys.items() if v.expires_ms >= now}
        random_part = secrets.token_hex(32)
        head = f"{server_url}|{random_part}|{now}"
        expires = now + MAGIC_KEY_LIFETIME_MS
        self._keys[random_part] = MagicKey(user_id, expires)
        return f"{head}|{self._tag(head)}", expires

    def redeem(self, key: str) -> str | None:
        """The user id for a valid, unused, unexpired key (now used up); else None."""
        head, sep, tag = key.rpartition("|")
        fields = key.split("|")
        if not sep or len(fields) != 4 or not same_text(self._tag(head), tag):
            return None
        entry = self._keys.get(fields[1])
        if entry is None or entry.expires_ms < self._now_ms():
            return None
        del self._keys[fields[1]]
        return entry.user_id

"""Payloads of accounts, sessions, the server probe and users (protocol.md §2, §7)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from peerwave_tui.errors import ProtocolError
from peerwave_tui.models import Contact, ServerMeta
from peerwave_tui.wire import fields as f

log = logging.getLogger(__name__)

# Secrets are opaque; this only bounds what we are willing to keep.
_MAX_SECRET_CHARS = 4096
_REGISTRATION_MODES = frozenset({"open", "email_suffix", "invitation_only"})


@dataclass(frozen=True)
class RegisterResult:
    """``POST /register``: an OTP was sent (``"otp"``) or recently sent (``"waitotp"``)."""

    status: str
    wait: int  # seconds before another OTP can be asked for


@dataclass(frozen=True)
class LoginResult:
    """A native login (backup code or magic key)."""

    session_secret: str = field(repr=False)  # secrets never reach a log line
    user_id: str
    email: str | None
    refresh_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RefreshResult:
    """``POST /token/refresh``: both values are replaced; store them before use."""

    session_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    user_id: str


@dataclass(frozen=True)
class MagicKey:
    """A magic key as generated on a logged-in device."""

    key: str
    expires_at: datetime | None  # the format is unpinned; None when unreadable


def parse_register(data: object) -> RegisterResult:
    d = f.obj(data, "registration answer")
    status = f.string(d, "status", "registration answer")
    wait = f.opt_integer(d, "wait", "registration answer", minimum=0)
    return RegisterResult(status=status, wait=wait or 0)


def parse_login(data: object) -> LoginResult:
    what = "login answer"
    d = f.obj(data, what)
    return LoginResult(
        session_secret=f.string(d, "sessionSecret", what, limit=_MAX_SECRET_CHARS),
        user_id=f.string(d, "userId", what),
        email=f.opt_string(d, "email", what, limit=f.MAX_TEXT_CHARS),
        refresh_token=f.opt_string(d, "refreshToken", what, limit=_MAX_SECRET_CHARS),
    )


def parse_refresh(data: object) -> RefreshResult:
    what = "token refresh answer"
    d = f.obj(data, what)
    return RefreshResult(
        session_secret=f.string(d, "sessionSecret", what, limit=_MAX_SECRET_CHARS),
        refresh_token=f.string(d, "refreshToken", what, limit=_MAX_SECRET_CHARS),
        user_id=f.string(d, "userId", what),
    )


def parse_backup_codes(data: object) -> list[str]:
    what = "backup code list"
    d = f.obj(data, what)
    codes = f.array(d.get("backupCodes"), what)
    if not codes or not all(isinstance(c, str) and 0 < len(c) <= 64 for c in codes):
        raise ProtocolError(f"The server sent a malformed {what}.")
    return list(codes)


def parse_magic_key(data: object) -> MagicKey:
    what = "magic key answer"
    d = f.obj(data, what)
    key = f.string(d, "magicKey", what, limit=f.MAX_TEXT_CHARS)
    return MagicKey(key=key, expires_at=f.parse_time(d.get("expiresAt")))


def magic_key_server_url(key: str) -> str:
    """The server URL inside a magic key (field 1 of four ``|``-separated fields).

    Raises ``ProtocolError`` when the text is not a magic key.
    """
    parts = key.strip().split("|")
    if len(parts) != 4 or not all(parts):
        raise ProtocolError("This is not a magic key: it should have four parts separated by '|'.")
    url = parts[0].rstrip("/")
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.netloc:
        raise ProtocolError("The magic key does not contain a usable server address.")
    return url


def parse_meta(url: str, data: object) -> ServerMeta:
    """``GET /client/meta``: every field may be missing, so read defensively."""
    d = f.obj(data, "server description")
    name = _loose_text(d, "serverName") or _loose_text(d, "name") or urlsplit(url).netloc or url
    version = _loose_text(d, "version") or _loose_text(d, "serverVersion")
    mode = _loose_text(d, "registrationMode")
    return ServerMeta(
        url=url,
        name=name,
        version=version,
        registration_mode=mode if mode in _REGISTRATION_MODES else None,
    )


def _loose_text(d: Mapping[str, Any], key: str) -> str | None:
    """A display string if present and sane; anything else is treated as missing."""
    value = d.get(key)
    if isinstance(value, str) and value.strip() and len(value) <= 200:
        return value.strip()
    return None


def parse_contact(data: object) -> Contact:
    """One element of ``/people/list`` or ``/people/profiles``."""
    what = "user entry"
    d = f.obj(data, what)
    user_id = f.string(d, "uuid", what)
    display = f.opt_string(d, "displayName", what, limit=500)
    at_name = f.opt_string(d, "atName", what, limit=500)
    email = f.opt_string(d, "email", what, limit=500)
    online = d.get("isOnline") is True
    last_seen = None
    presence = d.get("presence")
    if isinstance(presence, Mapping):
        online = presence.get("status") == "online"
        last_seen = f.parse_time(presence.get("last_seen"))
    return Contact(
        user_id=user_id,
        display_name=display or at_name or email or f"user {user_id[:8]}",
        at_name=at_name,
        email=email,
        online=online,
        last_seen=last_seen,
    )


def parse_contacts(data: object, what: str = "people list") -> list[Contact]:
    """A list of users; a malformed entry is skipped (counted in the log) instead of
    hiding everyone else."""
    entries = f.array(data, what)
    contacts: list[Contact] = []
    for entry in entries:
        try:
            contacts.append(parse_contact(entry))
        except ProtocolError:
            continue
    skipped = len(entries) - len(contacts)
    if skipped:
        log.warning("skipped %d malformed entries in a %s", skipped, what)
    return contacts


def parse_profiles(data: object) -> list[Contact]:
    d = f.obj(data, "profile list")
    return parse_contacts(d.get("profiles"), "profile list")


def parse_profile_setup(data: object) -> Contact:
    d = f.obj(data, "profile answer")
    return parse_contact(d.get("user"))

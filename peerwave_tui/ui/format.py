"""How messages, times and states read on screen (pure functions, no Textual)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from peerwave_tui.models import ChatMessage, ConnectionState, MessageKind, MessageStatus

# C0/C1 controls (escape sequences from a peer must never reach the terminal) and the
# bidirectional overrides that can disguise text; newlines and tabs are kept.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str) -> str:
    """Text from a peer or a server, safe to draw: no control characters."""
    return _UNSAFE.sub("\ufffd", text.replace("\r\n", "\n").replace("\t", "    "))


def one_line(text: str, limit: int = 80) -> str:
    """A single-line preview (titles, toasts, notifications)."""
    flat = " ".join(clean_text(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


STATUS_MARKS: dict[MessageStatus, str] = {
    MessageStatus.PENDING: "…",
    MessageStatus.STORED: "✓",
    MessageStatus.READ: "✓✓",
    MessageStatus.FAILED: "! retry",
    MessageStatus.RECEIVED: "",
}

STATE_GLYPHS: dict[ConnectionState, str] = {
    ConnectionState.CONNECTED: "●",
    ConnectionState.CONNECTING: "◌",
    ConnectionState.OFFLINE: "○",
    ConnectionState.LOCKED: "⊘",
    ConnectionState.ERROR: "✕",
    ConnectionState.CLOSED: "○",
}


def body_text(message: ChatMessage) -> str:
    """What a message shows as its body."""
    if message.kind is MessageKind.UNDECRYPTABLE:
        return "[could not decrypt]"
    if message.kind is MessageKind.UNSUPPORTED:
        what = one_line(message.detail, 30) if message.detail else "message"
        return f"[unsupported: {what}]"
    return clean_text(message.text)


def local_time(value: datetime) -> datetime:
    return value.astimezone() if value.tzinfo is not None else value


def clock(value: datetime) -> str:
    return local_time(value).strftime("%H:%M")


def day_label(day: date, today: date) -> str:
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    if day.year == today.year:
        return f"{day:%A} {day.day} {day:%B}"
    return f"{day:%A} {day.day} {day:%B} {day.year}"


def countdown(retry_at: datetime, now: datetime) -> str:
    seconds = max(0, int((retry_at - now).total_seconds() + 0.999))
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def same_content(a: object, b: object) -> bool:
    """Do two ``textual.content.Content`` show the same (text and styles)? Their own
    ``==`` compares the text only."""
    return getattr(a, "plain", None) == getattr(b, "plain", object()) and getattr(
        a, "spans", None
    ) == getattr(b, "spans", None)

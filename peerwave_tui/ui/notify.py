"""Terminal bell and desktop notifications (OSC 777 / OSC 9) for new messages.

The rules: nothing when notifications are off, when the server or the conversation is
muted, or when the user is looking at that conversation. The message text is included
only when ``notifications.show_text`` is set; otherwise the notification names neither
the sender nor the text. Escape sequences go out through the app's driver (the caller
passes ``write``); every piece of text is cleaned so a peer cannot inject sequences.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from peerwave_tui.settings import Settings
from peerwave_tui.ui.format import one_line
from peerwave_tui.ui.state import conversation_key

log = logging.getLogger(__name__)

BELL = "\a"
APP_TITLE = "peerwave-tui"


class DesktopProtocol(enum.StrEnum):
    OSC777 = "osc777"  # ESC ] 777 ; notify ; title ; body BEL  (foot, urxvt, VTE, WezTerm, Ghostty)
    OSC9 = "osc9"  # ESC ] 9 ; text BEL  (iTerm2, kitty, ConEmu)


def detect_desktop_protocol(env: Mapping[str, str]) -> DesktopProtocol | None:
    """Which notification sequence the terminal understands, from its environment.

    Inside tmux or screen the sequence would reach the multiplexer, not the terminal,
    so nothing is sent there (the bell still works).
    """
    if env.get("TMUX") or env.get("STY"):
        return None
    term = env.get("TERM", "").lower()
    program = env.get("TERM_PROGRAM", "").lower()
    if program == "iterm.app" or term == "xterm-kitty" or env.get("KITTY_WINDOW_ID"):
        return DesktopProtocol.OSC9
    if env.get("ConEmuPID"):
        return DesktopProtocol.OSC9
    if program in ("wezterm", "ghostty") or term in ("xterm-ghostty",):
        return DesktopProtocol.OSC777
    if term.startswith(("foot", "rxvt-unicode")) or env.get("VTE_VERSION"):
        return DesktopProtocol.OSC777
    return None


def _field(text: str, limit: int) -> str:
    """Text safe inside an OSC string: one line, no controls, no field separator."""
    return one_line(text, limit).replace(";", ",")


def desktop_sequence(protocol: DesktopProtocol, title: str, body: str) -> str:
    title_field = _field(title, 60)
    body_field = _field(body, 200)
    if protocol is DesktopProtocol.OSC777:
        return f"\x1b]777;notify;{title_field};{body_field}\x07"
    text = f"{title_field}: {body_field}"
    if text[:1].isdigit():  # "9;<digit>" starts a ConEmu sub-command
        text = f" {text}"
    return f"\x1b]9;{text}\x07"


@dataclass(frozen=True)
class IncomingMessage:
    """What the notifier needs to know about one new message."""

    account_id: str
    conversation_id: str
    server_name: str
    title: str  # the conversation's title (the sender, for 1:1)
    text: str
    muted: bool = False  # muted as far as the manager knows


class Notifier:
    def __init__(
        self,
        settings: Settings,
        write: Callable[[str], None],
        env: Mapping[str, str],
    ) -> None:
        self._settings = settings
        self._write = write
        self._protocol = detect_desktop_protocol(env)

    @property
    def protocol(self) -> DesktopProtocol | None:
        return self._protocol

    def is_muted(self, account_id: str, conversation_id: str) -> bool:
        settings = self._settings
        return account_id in settings.muted_servers or (
            conversation_key(account_id, conversation_id) in settings.muted_conversations
        )

    def message_arrived(self, message: IncomingMessage, *, viewing: bool) -> bool:
        """Ring and/or notify for a new message; returns whether anything was sent."""
        notes = self._settings.notifications
        if not notes.enabled or viewing or message.muted:
            return False
        if self.is_muted(message.account_id, message.conversation_id):
            return False
        sent = False
        if notes.bell:
            self._write(BELL)
            sent = True
        if notes.desktop and self._protocol is not None:
            if notes.show_text:
                title = f"{message.title} · {message.server_name}"
                body = message.text
            else:
                title = APP_TITLE
                body = f"New message on {message.server_name}"
            self._write(desktop_sequence(self._protocol, title, body))
            sent = True
        if sent:
            log.debug("notified for a message on account %s", message.account_id)
        return sent

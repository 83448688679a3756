"""Terminal bell and desktop notifications (OSC 777 / OSC 9) for new messages.

The rules: nothing when notifications are off, when the server or the conversation is
muted, or when the user is looking at that conversation. The message text is included
only when ``notifications.show_text`` is set; otherwise the notification names neither
the sender nor the text. A backlog must not ring a thousand times: one alert per
conversation per ``QUIET_SECONDS`` at most, and at most ``BURST_ALERTS`` alerts in any
``BURST_SECONDS`` overall (a backlog from many people); the unread counts in the tabs
and the list still say everything. Escape sequences go out through the app's driver (the caller
passes ``write``); every piece of text is cleaned so a peer cannot inject sequences.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from peerwave_tui.settings import Settings
from peerwave_tui.ui.format import one_line
from peerwave_tui.ui.state import conversation_key

log = logging.getLogger(__name__)

BELL = "\a"
APP_TITLE = "peerwave-tui"

QUIET_SECONDS = 5.0  # after an alert for a conversation, its next one waits this long
BURST_ALERTS = 3  # alerts allowed in any BURST_SECONDS, whatever the conversations
BURST_SECONDS = 5.0


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
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._write = write
        self._protocol = detect_desktop_protocol(env)
        self._clock = clock
        self._last_alert: dict[tuple[str, str], float] = {}  # conversation -> when
        self._recent: deque[float] = deque(maxlen=BURST_ALERTS)  # the latest alerts

    @property
    def protocol(self) -> DesktopProtocol | None:
        return self._protocol

    def is_muted(self, account_id: str, conversation_id: str) -> bool:
        settings = self._settings
        return account_id in settings.muted_servers or (
            conversation_key(account_id, conversation_id) in settings.muted_conversations
        )

    def message_arrived(self, message: IncomingMessage, *, viewing: bool, count: int = 1) -> bool:
        """Ring and/or notify for ``count`` new messages of one conversation (the
        latest is ``message``); returns whether anything was sent."""
        notes = self._settings.notifications
        if not notes.enabled or viewing or message.muted:
            return False
        if self.is_muted(message.account_id, message.conversation_id):
            return False
        if not notes.bell and not (notes.desktop and self._protocol is not None):
            return False
        if not self._may_alert((message.account_id, message.conversation_id)):
            return False
        if notes.bell:
            self._write(BELL)
        if notes.desktop and self._protocol is not None:
            if notes.show_text:
                title = f"{message.title} · {message.server_name}"
                body = message.text if count == 1 else f"{count} new messages: {message.text}"
            else:
                title = APP_TITLE
                body = (
                    f"New message on {message.server_name}"
                    if count == 1
                    else f"{count} new messages on {message.server_name}"
                )
            self._write(desktop_sequence(self._protocol, title, body))
        log.debug("notified for a message on account %s", message.account_id)
        return True

    def _may_alert(self, conversation: tuple[str, str]) -> bool:
        """The rate limits; records the alert when it may go out."""
        now = self._clock()
        last = self._last_alert.get(conversation)
        if last is not None and now - last < QUIET_SECONDS:
            return False
        recent = self._recent
        if len(recent) == BURST_ALERTS and now - recent[0] < BURST_SECONDS:
            return False
        self._last_alert[conversation] = now
        recent.append(now)
        return True

"""What the app may start instead of ``manager.start()``: the demo environment.

A ``Startup`` brings up whatever the session needs besides the saved accounts (the
demo's two dev servers and its echo contacts), starts the manager itself, and names
the conversations to open. The app runs it in a worker after the first paint, shows its
progress, and closes it after the manager when the app quits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from peerwave_tui.models import Conversation

Progress = Callable[[str], None]
# (account_id, conversation): shown once the startup is done; the first one is active.
OpenConversation = tuple[str, Conversation]


class Startup(Protocol):
    @property
    def note(self) -> str | None:
        """One line the main screen shows for the whole session (None: nothing)."""

    async def start(self, manager: Any, progress: Progress) -> list[OpenConversation]:
        """Bring everything up, start ``manager`` (exactly once) and return what to open.

        Raises ``PeerwaveError`` with a message ready to show."""

    async def aclose(self) -> None:
        """Stop everything ``start`` started, even if it was interrupted; idempotent."""

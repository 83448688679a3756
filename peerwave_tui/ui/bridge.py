"""The one bridge from core to UI: each core event becomes a Textual message.

``pump_events`` runs inside a named worker of the app; it reads the manager's merged
event stream and posts messages to the main screen. High-rate events (connection
state, presence, backlog progress) coalesce: a queued message is replaced by a newer
one about the same thing (``Message.can_replace``). Received messages come in bursts
(a drained page commits and publishes 50 at once): a burst becomes one
``MessagesReceived``, at most one every ``BURST_INTERVAL``, so a backlog costs the UI
one update per burst instead of one per message, and key presses are not queued
behind thousands of them. Order is kept: any event that could depend on an earlier
message (a status change, our own message, an account change, ...) first flushes the
burst that is being gathered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from textual.message import Message

from peerwave_tui import events as core
from peerwave_tui.errors import PeerwaveError
from peerwave_tui.manager_api import ManagerAPI

log = logging.getLogger(__name__)

E = TypeVar("E", bound=core.Event)


class CoreMessage(Message, Generic[E], bubble=False):
    """A core event, carried into Textual's message queue."""

    def __init__(self, event: E) -> None:
        self.event = event
        super().__init__()

    @property
    def account_id(self) -> str:
        return self.event.account_id


class AccountAdded(CoreMessage[core.AccountAdded]):
    pass


class AccountRemoved(CoreMessage[core.AccountRemoved]):
    pass


class AccountUpdated(CoreMessage[core.AccountUpdated]):
    pass


class ConnectionChanged(CoreMessage[core.ConnectionChanged]):
    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ConnectionChanged) and message.account_id == self.account_id


class MessageReceived(CoreMessage[core.MessageReceived]):
    pass


class MessagesReceived(Message, bubble=False):
    """Several ``MessageReceived`` events of one burst (any accounts), in order."""

    def __init__(self, events: Sequence[core.MessageReceived]) -> None:
        self.events = list(events)
        super().__init__()


class MessageAdded(CoreMessage[core.MessageAdded]):
    pass


class MessageStatusChanged(CoreMessage[core.MessageStatusChanged]):
    pass


class ConversationUpdated(CoreMessage[core.ConversationUpdated]):
    pass


class PresenceChanged(CoreMessage[core.PresenceChanged]):
    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, PresenceChanged)
            and message.account_id == self.account_id
            and message.event.user_id == self.event.user_id
        )


class IdentityChanged(CoreMessage[core.IdentityChanged]):
    pass


class NewDeviceSeen(CoreMessage[core.NewDeviceSeen]):
    pass


class BacklogProgress(CoreMessage[core.BacklogProgress]):
    def can_replace(self, message: Message) -> bool:
        # A "done" message is never dropped in favour of a later count.
        return (
            isinstance(message, BacklogProgress)
            and message.account_id == self.account_id
            and not self.event.done
        )


class KeyGenerationProgress(CoreMessage[core.KeyGenerationProgress]):
    pass


class ErrorRaised(CoreMessage[core.ErrorRaised]):
    pass


class EventStreamEnded(Message, bubble=False):
    """The manager's event stream stopped (closing, or it failed: ``error`` says)."""

    def __init__(self, error: str | None = None) -> None:
        self.error = error
        super().__init__()


_MESSAGE_FOR_EVENT: dict[type[core.Event], type[CoreMessage]] = {  # type: ignore[type-arg]
    core.AccountAdded: AccountAdded,
    core.AccountRemoved: AccountRemoved,
    core.AccountUpdated: AccountUpdated,
    core.ConnectionChanged: ConnectionChanged,
    core.MessageReceived: MessageReceived,
    core.MessageAdded: MessageAdded,
    core.MessageStatusChanged: MessageStatusChanged,
    core.ConversationUpdated: ConversationUpdated,
    core.PresenceChanged: PresenceChanged,
    core.IdentityChanged: IdentityChanged,
    core.NewDeviceSeen: NewDeviceSeen,
    core.BacklogProgress: BacklogProgress,
    core.KeyGenerationProgress: KeyGenerationProgress,
    core.ErrorRaised: ErrorRaised,
}


def to_message(event: core.Event) -> CoreMessage | None:  # type: ignore[type-arg]
    """The Textual message for a core event; ``None`` for kinds this UI does not know."""
    for kind in type(event).__mro__:
        message_type = _MESSAGE_FOR_EVENT.get(kind)
        if message_type is not None:
            return message_type(event)
    log.debug("core event %s has no UI message", type(event).__name__)
    return None


# A burst of received messages is posted at most this often (a frame or three).
BURST_INTERVAL = 0.05  # seconds

# Events that may overtake received messages still being gathered: nothing they show
# depends on those messages (conversation rows carry their own counts).
_MAY_OVERTAKE = (
    core.BacklogProgress,
    core.ConversationUpdated,
    core.PresenceChanged,
    core.KeyGenerationProgress,
)


class _Bursts:
    """Gathers ``MessageReceived`` events and posts them as ``MessagesReceived``."""

    def __init__(self, post: Callable[[Message], object], interval: float) -> None:
        self._post = post
        self._interval = interval
        self._pending: list[core.MessageReceived] = []
        self._last_flush = -interval
        self._scheduled: asyncio.Handle | None = None

    def add(self, event: core.Event) -> None:
        if isinstance(event, core.MessageReceived):
            self._pending.append(event)
            self._schedule()
            return
        if not isinstance(event, _MAY_OVERTAKE):
            self.flush()
        message = to_message(event)
        if message is not None:
            self._post(message)

    def _schedule(self) -> None:
        if self._scheduled is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_flush + self._interval - time.monotonic()
        # call_soon runs once the pump waits for the next event, i.e. after every
        # event already queued (a whole committed page) was gathered.
        if wait <= 0:
            self._scheduled = loop.call_soon(self.flush)
        else:
            self._scheduled = loop.call_later(wait, self.flush)

    def flush(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        if not self._pending:
            return
        events, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        self._post(MessagesReceived(events))


async def pump_events(
    manager: ManagerAPI,
    post: Callable[[Message], object],
    *,
    burst_interval: float = BURST_INTERVAL,
) -> None:
    """Forward every core event to ``post`` until the stream ends."""
    bursts = _Bursts(post, burst_interval)
    try:
        async for event in manager.events():
            bursts.add(event)
    except Exception as exc:  # noqa: BLE001 - the UI must learn the stream died, not crash
        log.error("core event stream failed: %s", type(exc).__name__)
        shown = str(exc) if isinstance(exc, PeerwaveError) else "an unexpected error"
        bursts.flush()
        post(EventStreamEnded(error=shown))
        return
    finally:
        bursts.flush()  # also when the worker is cancelled: nothing is left behind
    post(EventStreamEnded())

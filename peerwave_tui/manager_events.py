"""The manager's event side: one subscriber's stream (``Subscription``), and the
machine-readable reason of an account's failure to start (``reason_for``)."""

from __future__ import annotations

import asyncio

from peerwave_tui import events as ev
from peerwave_tui.errors import (
    AuthError,
    KeyCustodyError,
    NoSecureKeyringError,
    PeerwaveError,
    StoreCorruptError,
    StoreLockedError,
    StoreWrongKeyError,
    WrongPassphraseError,
)
from peerwave_tui.models import AccountRecord, KeyMode


class Subscription:
    """One subscriber's queue of events; ``None`` in the queue marks its end."""

    def __init__(self, subscribers: list[Subscription]) -> None:
        self._queue: asyncio.Queue[ev.Event | None] = asyncio.Queue()
        self._subscribers = subscribers
        self._ended = False
        subscribers.append(self)

    def put(self, event: ev.Event) -> None:
        if not self._ended:
            self._queue.put_nowait(event)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> ev.Event:
        event = await self._queue.get()
        if event is None:
            self._queue.put_nowait(None)  # every later call ends too
            raise StopAsyncIteration
        return event

    def end(self) -> None:
        """No more events: a waiting ``__anext__`` (and every later one) stops."""
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(None)

    def close(self) -> None:
        """The subscriber is done: unsubscribe and end the iteration."""
        if self in self._subscribers:
            self._subscribers.remove(self)
        self.end()


def reason_for(exc: PeerwaveError, record: AccountRecord) -> str | None:
    """The machine-readable side of a failure to open or start an account."""
    if isinstance(exc, NoSecureKeyringError):
        return ev.REASON_KEYRING_UNAVAILABLE
    if isinstance(exc, WrongPassphraseError):
        return ev.REASON_PASSPHRASE_NEEDED
    if isinstance(exc, KeyCustodyError):
        # Custody raises this one class for several causes; its message tells them
        # apart: no passphrase given (the unlock screen cures it) vs. a lost salt file,
        # and no usable keyring now (the keyring help) vs. a missing entry.
        text = str(exc).lower()
        if record.key_mode is KeyMode.PASSPHRASE and "salt" not in text:
            return ev.REASON_PASSPHRASE_NEEDED
        if record.key_mode is KeyMode.KEYRING and "no secure keyring" in text:
            return ev.REASON_KEYRING_UNAVAILABLE
        return ev.REASON_KEY_UNAVAILABLE
    if isinstance(exc, StoreLockedError):
        return ev.REASON_STORE_IN_USE
    if isinstance(exc, StoreCorruptError | StoreWrongKeyError):
        return ev.REASON_STORE_DAMAGED
    if isinstance(exc, AuthError):
        return ev.REASON_AUTH_FAILED
    return None

"""The bounded inbox between one server's socket handlers and its single consumer.

Handlers never block (python-socketio runs each in its own task, and a blocked one
would hold up nothing useful), so when the inbox is full a new server event is
**dropped**, counted and logged. That is acceptable only because nothing is lost for
good:

- 1:1 items (``receiveItem``) stay on the server until this device calls ``deleteItem``,
  and group items stay in the pending list until marked read;
- so after every drop the consumer gets one ``("resync", ResyncNeeded)`` event once it
  has caught up (the inbox ran empty), and answers it by running the pending fetch;
- a lost ``deliveryReceipt`` makes the sender resend the same ciphertext after its
  receipt timeout (receivers dedupe); a lost presence event is refreshed by the next.

The one event that does not persist, ``receiveSenderKeyDistribution`` (delivered live
only), is no worse off than protocol.md §6.2's "socket dropped before clientReady"
case: the member keeps undecryptable items until the next distribution arrives.

Control events (``connected``, ``stopped``) come from us, not the server, and get a
small reserve above the capacity so that a flood cannot crowd them out.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from peerwave_tui.wire import events as we

InboundEvent = tuple[str, Any]

# Names of the events the consumer sees (besides the socket's own event names).
CONNECTED = "connected"  # payload: SocketSession; after every clientReady: re-sync pending
RESYNC = "resync"  # payload: ResyncNeeded; events were dropped: re-sync pending
STOPPED = "stopped"  # payload: the AuthError that stopped the supervisor
PRESENCE = "presence"  # payload: PresenceUpdate (both presence events)

_CONTROL_RESERVE = 64


@dataclass(frozen=True)
class SocketSession:
    """What ``authenticated`` told us about this device."""

    user_id: str
    device_id: int
    client_id: str | None = None


@dataclass(frozen=True)
class ResyncNeeded:
    dropped: int


# socket event → (validator, name in the inbox). Read-only: shared by every instance.
INBOUND_EVENTS: MappingProxyType[str, tuple[Callable[[object], object], str]] = MappingProxyType(
    {
        "receiveItem": (we.parse_incoming_item, "receiveItem"),
        "deliveryReceipt": (we.parse_delivery_receipt, "deliveryReceipt"),
        "pendingMessagesAvailable": (we.parse_pending_available, "pendingMessagesAvailable"),
        "groupItem": (we.parse_group_item, "groupItem"),
        "groupItemDelivered": (we.parse_group_item_delivered, "groupItemDelivered"),
        "groupItemError": (we.parse_group_item_error, "groupItemError"),
        "groupItemReadUpdate": (we.parse_group_item_read_update, "groupItemReadUpdate"),
        "receiveSenderKeyDistribution": (
            we.parse_sender_key_distribution,
            "receiveSenderKeyDistribution",
        ),
        "presence:update": (we.parse_presence_update, PRESENCE),
        "presence:user_disconnected": (we.parse_user_disconnected, PRESENCE),
    }
)


class Inbox:
    """A bounded FIFO with one async consumer; ``put`` never blocks."""

    def __init__(self, capacity: int, on_drop: Callable[[str], None] | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._items: deque[InboundEvent] = deque()
        self._ready = asyncio.Event()
        self._owed_resync = 0
        self._closed = False
        self._on_drop = on_drop

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, name: str, payload: Any) -> bool:
        """Append a server event; ``False`` (and a resync owed) when full."""
        if self._closed:
            return False
        if len(self._items) >= self._capacity:
            self._drop(name)
            return False
        self._items.append((name, payload))
        self._ready.set()
        return True

    def put_control(self, name: str, payload: Any) -> None:
        if self._closed:
            return
        if len(self._items) >= self._capacity + _CONTROL_RESERVE:
            self._drop(name)
            return
        self._items.append((name, payload))
        self._ready.set()

    def _drop(self, name: str) -> None:
        self._owed_resync += 1
        if self._on_drop is not None:
            self._on_drop(name)

    def take_ready(self, name: str, limit: int) -> list[Any]:
        taken: list[Any] = []
        while self._items and len(taken) < limit and self._items[0][0] == name:
            taken.append(self._items.popleft()[1])
        return taken

    def close(self) -> None:
        self._closed = True
        self._items.clear()
        self._ready.set()

    async def iterate(self) -> AsyncIterator[InboundEvent]:
        while not self._closed:
            if self._items:
                yield self._items.popleft()
            elif self._owed_resync:
                dropped, self._owed_resync = self._owed_resync, 0
                yield (RESYNC, ResyncNeeded(dropped))
            else:
                self._ready.clear()
                await self._ready.wait()

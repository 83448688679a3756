"""Who is connected, and the hold-until-``clientReady`` queues (protocol.md section 3.4).

One socket per device, keyed by ``(userId, device_id)``: a newer authenticated
socket replaces the older one. An authenticated socket counts as online for
delivery, but everything addressed to it waits in its queue until it sends
``clientReady``; only ``receiveSenderKeyDistribution`` and direct answers to its own
requests go out at once. Presence is announced on every device's ``clientReady``
and when the last ready socket of a user goes away.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socketio

from peerwave_tui.devserver.auth import Caller
from peerwave_tui.devserver.util import iso

log = logging.getLogger(__name__)

MAX_HELD_EVENTS = 50_000  # a device that never gets ready must not eat all memory


@dataclass
class SocketState:
    sid: str
    caller: Caller | None = None
    ready: bool = False
    held: deque[tuple[str, Any]] = field(default_factory=deque)


class SocketHub:
    def __init__(self, sio: socketio.AsyncServer, now_ms: Callable[[], int]) -> None:
        self._sio = sio
        self._now_ms = now_ms
        self._states: dict[str, SocketState] = {}
        self._by_device: dict[tuple[str, int], str] = {}

    # ------------------------------------------------------------- lookups

    def connected(self, sid: str) -> SocketState:
        state = self._states.get(sid)
        if state is None:
            state = self._states[sid] = SocketState(sid)
        return state

    def get(self, sid: str) -> SocketState | None:
        return self._states.get(sid)

    def device_state(self, user_id: str, device_id: int) -> SocketState | None:
        sid = self._by_device.get((user_id, device_id))
        return None if sid is None else self._states.get(sid)

    def device_online(self, user_id: str, device_id: int) -> bool:
        return self.device_state(user_id, device_id) is not None

    def user_online(self, user_id: str) -> bool:
        """Presence: at least one device of the user has sent ``clientReady``."""
        return any(
            s.ready and s.caller is not None and s.caller.user_id == user_id
            for s in self._states.values()
        )

    def sids(self) -> list[str]:
        return list(self._states)

    # -------------------------------------------------------------- sending

    async def send(self, state: SocketState, event: str, data: Any) -> None:
        """Emit now if the socket is ready, else hold it for ``clientReady``."""
        if state.ready:
            await self._sio.emit(event, data, to=state.sid)
        elif len(state.held) < MAX_HELD_EVENTS:
            state.held.append((event, data))
        else:
            log.warning("held-event queue full for a device; dropping %s", event)

    async def send_to_device(self, user_id: str, device_id: int, event: str, data: Any) -> bool:
        """Send (or hold) for a device; False when it has no authenticated socket."""
        state = self.device_state(user_id, device_id)
        if state is None:
            return False
        await self.send(state, event, data)
        return True

    async def send_now_to_device(self, user_id: str, device_id: int, event: str, data: Any) -> bool:
        """Emit at once, ready or not (``receiveSenderKeyDistribution``)."""
        state = self.device_state(user_id, device_id)
        if state is None:
            return False
        await self._sio.emit(event, data, to=state.sid)
        return True

    async def reply(self, state: SocketState, event: str, data: Any) -> None:
        """A direct answer to the socket's own request; never held."""
        await self._sio.emit(event, data, to=state.sid)

    async def _broadcast(self, event: str, data: Any, *, direct: SocketState | None = None) -> None:
        """To every authenticated socket (held where not ready); ``direct`` gets it now."""
        for state in list(self._states.values()):
            if state is direct:
                await self._sio.emit(event, data, to=state.sid)
            elif state.caller is not None:
                await self.send(state, event, data)

    # ------------------------------------------------------------ lifecycle

    async def bind(self, state: SocketState, caller: Caller) -> None:
        """Attach an authenticated identity; an older socket of that device is dropped."""
        key = (caller.user_id, caller.device_id)
        if state.caller is not None and state.caller != caller:
            # Re-authenticated as another device: start over, clientReady included.
            previous = (state.caller.user_id, state.caller.device_id)
            if self._by_device.get(previous) == state.sid:
                del self._by_device[previous]
            state.ready = False
            state.held.clear()
        old_sid = self._by_device.get(key)
        state.caller = caller
        self._by_device[key] = state.sid
        if old_sid is not None and old_sid != state.sid:
            log.info("a newer socket replaces the old one of device %d", caller.device_id)
            old = self._states.pop(old_sid, None)
            if old is not None:
                old.held.clear()
            await self._sio.disconnect(old_sid)

    async def mark_ready(self, state: SocketState) -> bool:
        """Deliver the held events in order, then go live; True on the first call."""
        if state.ready or state.caller is None:
            return False
        # Every device's clientReady is announced (clients redistribute sender keys on
        # it). The socket counts as ready from here: its own copy goes out before the
        # held events, as on the PeerWave server (ready, presence, then the queue).
        await self._broadcast(
            "presence:update",
            {"user_id": state.caller.user_id, "status": "online", "last_seen": iso(self._now_ms())},
            direct=state,
        )
        # Events arriving while we flush join the queue (state.ready is still False),
        # so nothing overtakes what was held.
        while state.held:
            event, data = state.held.popleft()
            await self._sio.emit(event, data, to=state.sid)
        state.ready = True
        return True

    async def forget(self, sid: str) -> SocketState | None:
        """The socket is gone: drop its queue; announce the user offline if it was the last."""
        state = self._states.pop(sid, None)
        if state is None or state.caller is None:
            return state
        key = (state.caller.user_id, state.caller.device_id)
        if self._by_device.get(key) == sid:
            del self._by_device[key]
        state.held.clear()
        if state.ready and not self.user_online(state.caller.user_id):
            last_seen = iso(self._now_ms())
            user_id = state.caller.user_id
            await self._broadcast(
                "presence:update", {"user_id": user_id, "status": "offline", "last_seen": last_seen}
            )
            await self._broadcast(
                "presence:user_disconnected", {"user_id": user_id, "last_seen": last_seen}
            )
        return state

    async def disconnect_device(self, user_id: str, device_id: int) -> None:
        sid = self._by_device.get((user_id, device_id))
        if sid is not None:
            await self._sio.disconnect(sid)

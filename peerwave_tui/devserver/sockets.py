"""Socket.IO events (protocol.md sections 3.4, 5, 6; the event table in section 8).

Every event except ``authenticate`` is ignored until the socket has authenticated.
Bad payloads are dropped (or answered with the event's own error event); unknown
events are ignored; nothing a client sends can raise out of a handler.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from peerwave_tui.devserver.auth import SocketAuthError
from peerwave_tui.devserver.context import ServerContext
from peerwave_tui.devserver.hub import SocketState
from peerwave_tui.devserver.messaging import Messaging, page_bounds
from peerwave_tui.devserver.util import ApiError, InvalidInput, iso, require_dict

log = logging.getLogger(__name__)

EventHandler = Callable[[SocketState, Any], Awaitable[Any]]


class SocketEvents:
    def __init__(self, ctx: ServerContext, messaging: Messaging) -> None:
        self.ctx = ctx
        self.messaging = messaging

    def register(self) -> None:
        sio = self.ctx.sio
        sio.on("connect", self.on_connect)
        sio.on("disconnect", self.on_disconnect)
        handlers: dict[str, EventHandler] = {
            "authenticate": self.authenticate,
            "clientReady": self.client_ready,
            "sendItem": self.send_item,
            "deleteItem": self.delete_item,
            "fetchPendingMessagesV2": self.fetch_pending,
            "sendGroupItem": self.send_group_item,
            "markGroupItemRead": self.mark_group_read,
        }
        for name, handler in handlers.items():
            sio.on(name, self._guarded(name, handler))

    def _guarded(self, name: str, handler: EventHandler) -> Callable[..., Awaitable[Any]]:
        """Drop events of unauthenticated sockets; never let a payload raise."""
        not_handled = self.ctx.sio.not_handled  # no ack at all, as for an ignored event

        async def dispatch(sid: str, *args: Any) -> Any:
            state = self.ctx.hub.get(sid)
            if state is None or (state.caller is None and name != "authenticate"):
                return not_handled
            data = args[0] if args else None
            try:
                result = await handler(state, data)
            except (InvalidInput, ApiError) as exc:
                log.info("dropped a bad %s event: %s", name, exc)
                result = None
            except Exception:  # noqa: BLE001 - one bad event must not hurt anyone else
                log.exception("internal error handling %s", name)
                result = None
            return not_handled if result is None else result

        return dispatch

    # ------------------------------------------------------------ lifecycle

    async def on_connect(self, sid: str, environ: Any, auth: Any = None) -> bool:
        self.ctx.hub.connected(sid)
        return True

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        try:
            state = await self.ctx.hub.forget(sid)
            if state is not None and state.caller is not None and state.ready:
                self.ctx.accounts.set_last_seen(state.caller.user_id, self.ctx.now_ms())
        except Exception:  # noqa: BLE001
            log.exception("internal error on disconnect")

    async def authenticate(self, state: SocketState, data: Any) -> None:
        payload = require_dict(data, "authenticate")
        try:
            caller = self.ctx.auth.verify_socket(payload)
        except SocketAuthError as exc:
            await self.ctx.hub.reply(
                state, "authenticated", {"authenticated": False, "error": exc.code}
            )
            return
        await self.ctx.hub.bind(state, caller)
        await self.ctx.hub.reply(
            state,
            "authenticated",
            {
                "authenticated": True,
                "uuid": caller.user_id,
                "deviceId": caller.device_id,
                "clientId": caller.client_id,
            },
        )

    async def client_ready(self, state: SocketState, data: Any) -> None:
        assert state.caller is not None
        caller = state.caller
        if await self.ctx.hub.mark_ready(state):
            self.ctx.accounts.set_last_seen(caller.user_id, self.ctx.now_ms())
        count = self.ctx.messages.count_items(caller.user_id, caller.device_id)
        if count:
            await self.ctx.hub.reply(
                state,
                "pendingMessagesAvailable",
                {"count": count, "timestamp": iso(self.ctx.now_ms())},
            )

    # ------------------------------------------------------------ messages

    async def send_item(self, state: SocketState, data: Any) -> None:
        assert state.caller is not None
        await self.messaging.send_item(state.caller, data)

    async def delete_item(self, state: SocketState, data: Any) -> dict[str, Any]:
        assert state.caller is not None
        item_id = data.get("itemId") if isinstance(data, dict) else None
        if not isinstance(item_id, str) or not item_id:
            return {"success": False, "deletedCount": 0}
        return {"success": True, "deletedCount": self.messaging.delete_item(state.caller, item_id)}

    async def fetch_pending(self, state: SocketState, data: Any) -> None:
        assert state.caller is not None
        try:
            request = {} if data is None else require_dict(data, "fetchPendingMessagesV2")
            limit, offset = page_bounds(request.get("limit"), request.get("offset"))
        except InvalidInput as exc:
            await self.ctx.hub.reply(state, "fetchPendingMessagesError", {"error": str(exc)})
            return
        items, has_more = self.messaging.pending(state.caller, limit, offset)
        await self.ctx.hub.reply(
            state,
            "pendingMessagesResponse",
            {
                "items": items,
                "messages": items,
                "hasMore": has_more,
                "offset": offset,
                "total": len(items),
            },
        )

    async def send_group_item(self, state: SocketState, data: Any) -> None:
        assert state.caller is not None
        await self.messaging.send_group_item(state, state.caller, data)

    async def mark_group_read(self, state: SocketState, data: Any) -> None:
        assert state.caller is not None
        item_id = require_dict(data, "markGroupItemRead").get("itemId")
        if not isinstance(item_id, str) or not item_id:
            raise InvalidInput("itemId is required")
        await self.messaging.mark_group_read(state.caller, item_id)

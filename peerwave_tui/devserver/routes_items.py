"""HTTP alternatives for items (protocol.md sections 5.4, 5.5, 6.2, 6.4)."""

from __future__ import annotations

from aiohttp import web

from peerwave_tui.devserver.auth import Caller
from peerwave_tui.devserver.context import ServerContext
from peerwave_tui.devserver.httpkit import json_response, read_json, signed
from peerwave_tui.devserver.messaging import MAX_PAGE, Messaging, page_bounds
from peerwave_tui.devserver.util import InvalidInput, error, is_uuid, parse_iso, to_int

DEFAULT_HISTORY = 50


def add_routes(app: web.Application, ctx: ServerContext, messaging: Messaging) -> None:
    routes = ItemRoutes(ctx, messaging)
    auth = ctx.auth
    app.router.add_delete("/items/{itemId}", signed(auth, routes.delete_item))
    app.router.add_get("/api/signal/pending-messages/v2", signed(auth, routes.pending))
    app.router.add_post(
        "/api/signal/distribute-sender-key", signed(auth, routes.distribute_sender_key)
    )
    app.router.add_post("/api/group-items/{itemId}/read", signed(auth, routes.mark_read))
    app.router.add_get("/api/group-items/{channelId}", signed(auth, routes.group_history))


class ItemRoutes:
    def __init__(self, ctx: ServerContext, messaging: Messaging) -> None:
        self.ctx = ctx
        self.messaging = messaging

    async def delete_item(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        receiver = request.query.get("receiverId")
        device = request.query.get("deviceId")
        if receiver is None or device is None:
            raise InvalidInput("receiverId and deviceId are required")
        if (
            receiver != caller.user_id
            or to_int(device, "deviceId", allow_str=True) != caller.device_id
        ):
            raise error(403, "Items can only be deleted by their receiving device")
        count = self.messaging.delete_item(caller, request.match_info["itemId"])
        return json_response({"success": True, "deletedCount": count})

    async def pending(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        limit, offset = page_bounds(request.query.get("limit"), request.query.get("offset"))
        items, has_more = self.messaging.pending(caller, limit, offset)
        return json_response(
            {
                "success": True,
                "items": items,
                "messages": items,
                "hasMore": has_more,
                "offset": offset,
                "total": len(items),
                "totalAvailable": len(items),
            }
        )

    async def distribute_sender_key(
        self, request: web.Request, caller: Caller
    ) -> web.StreamResponse:
        body = await read_json(request)
        return json_response(await self.messaging.distribute_sender_key(caller, body))

    async def mark_read(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        await self.messaging.mark_group_read(caller, request.match_info["itemId"])
        return json_response({"success": True})

    async def group_history(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        channel_id = request.match_info["channelId"]
        if not is_uuid(channel_id):
            raise InvalidInput("channelId must be a lowercase UUID")
        since_raw = request.query.get("since")
        since = None if since_raw in (None, "") else parse_iso(since_raw)
        if since_raw not in (None, "") and since is None:
            raise InvalidInput("since must be an ISO-8601 timestamp")
        raw_limit = request.query.get("limit")
        limit = DEFAULT_HISTORY if raw_limit is None else to_int(raw_limit, "limit", allow_str=True)
        limit = max(1, min(MAX_PAGE, limit))
        if self.ctx.channels.get(channel_id) is None:
            raise error(404, "Channel not found")
        if not self.ctx.channels.is_member(channel_id, caller.user_id):
            raise error(403, "Not a member of this channel")
        items = [i.to_event() for i in self.ctx.messages.group_history(channel_id, since, limit)]
        return json_response({"success": True, "items": items, "count": len(items)})

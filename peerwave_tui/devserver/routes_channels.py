"""Channels (protocol.md section 6.1). The dev server's only channel permission:
the owner may add members."""

from __future__ import annotations

from aiohttp import web

from peerwave_tui.devserver.auth import Caller
from peerwave_tui.devserver.context import ServerContext
from peerwave_tui.devserver.httpkit import json_response, read_json, signed
from peerwave_tui.devserver.store_channels import Channel
from peerwave_tui.devserver.util import (
    ApiError,
    InvalidInput,
    error,
    get_bool,
    get_str,
    is_uuid,
    need_str,
    need_uuid,
    to_int,
)

CHANNEL_TYPES = ("signal", "webrtc")
MAX_LIST = 100


def add_routes(app: web.Application, ctx: ServerContext) -> None:
    routes = ChannelRoutes(ctx)
    auth = ctx.auth
    app.router.add_get("/client/channels", signed(auth, routes.mine))
    app.router.add_post("/client/channels", signed(auth, routes.create))
    app.router.add_get("/client/channels/discover", signed(auth, routes.discover))
    app.router.add_post("/client/channels/{channelId}/join", signed(auth, routes.join))
    app.router.add_get("/api/channels/{channelId}/members", signed(auth, routes.members))
    app.router.add_post("/api/channels/{channelId}/members", signed(auth, routes.add_member))
    app.router.add_post("/api/channels/{channelId}/leave", signed(auth, routes.leave))
    app.router.add_get("/channels/{channelId}/member-devices", signed(auth, routes.member_devices))


def _query_int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    return default if raw in (None, "") else to_int(raw, name, allow_str=True)


class ChannelRoutes:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    def _channel(self, request: web.Request) -> Channel:
        channel_id = request.match_info["channelId"]
        channel = self.ctx.channels.get(channel_id) if is_uuid(channel_id) else None
        if channel is None:
            raise error(404, "channel_not_found", "Channel not found")
        return channel

    def _member_channel(self, request: web.Request, caller: Caller) -> Channel:
        channel = self._channel(request)
        if not self.ctx.channels.is_member(channel.uuid, caller.user_id):
            raise error(403, "Not a member of this channel")
        return channel

    async def mine(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        channel_type = request.query.get("type") or None
        limit = max(1, min(MAX_LIST, _query_int(request, "limit", MAX_LIST)))
        channels = self.ctx.channels.channels_of(caller.user_id, channel_type, limit)
        return json_response({"status": "success", "channels": [c.to_json() for c in channels]})

    async def discover(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        limit = max(1, min(MAX_LIST, _query_int(request, "limit", 20)))
        offset = _query_int(request, "offset", 0)
        channels, total = self.ctx.channels.discover(caller.user_id, limit, offset)
        return json_response(
            {
                "status": "success",
                "channels": [c.to_json() for c in channels],
                "total": total,
                "hasMore": offset + len(channels) < total,
            }
        )

    async def create(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        body = await read_json(request)
        name = need_str(body, "name", max_len=100).strip()
        description = get_str(body, "description", allow_empty=True, max_len=2000)
        private = get_bool(body, "private")
        channel_type = need_str(body, "type", max_len=20)
        if channel_type not in CHANNEL_TYPES:
            raise InvalidInput("type must be 'signal' or 'webrtc'")
        default_role = get_str(body, "defaultRoleId", required=False, max_len=100)
        channel = self.ctx.channels.create(
            caller.user_id, name, description or "", bool(private), channel_type, default_role
        )
        return json_response(channel.to_json(), status=201)

    async def join(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        channel = self._channel(request)
        if channel.private:
            raise ApiError(403, {"status": "error", "message": "This channel is private"})
        if not self.ctx.channels.add_member(channel.uuid, caller.user_id):
            raise ApiError(400, {"status": "error", "message": "Already a member of this channel"})
        return json_response(
            {"status": "success", "message": "Joined channel", "channel": channel.to_json()}
        )

    async def members(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        channel = self._member_channel(request, caller)
        users = self.ctx.accounts.users_by_uuids(self.ctx.channels.members(channel.uuid))
        return json_response(
            {
                "members": [
                    {
                        "userId": u.uuid,
                        "displayName": u.display_name,
                        "email": u.email,
                        "isOwner": u.uuid == channel.owner,
                        "roles": [],
                    }
                    for u in users
                ]
            }
        )

    async def member_devices(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        channel = self._member_channel(request, caller)
        accounts = self.ctx.accounts
        return json_response(
            [
                {"userId": d.owner, "deviceId": d.device_id}
                for member in self.ctx.channels.members(channel.uuid)
                for d in accounts.devices_of(member)
            ]
        )

    async def add_member(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        channel = self._member_channel(request, caller)
        body = await read_json(request)
        user_id = need_uuid(body, "userId")
        get_str(body, "roleId", required=False, max_len=100)
        if channel.owner != caller.user_id:
            raise error(403, "Missing permission to add members")
        if self.ctx.accounts.user_by_uuid(user_id) is None:
            raise error(404, "user_not_found", "No such user")
        if not self.ctx.channels.add_member(channel.uuid, user_id):
            raise error(400, "Already a member of this channel")
        return json_response({"status": "success", "message": "Member added"})

    async def leave(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        channel = self._member_channel(request, caller)
        self.ctx.channels.remove_member(channel.uuid, caller.user_id)
        return json_response({"status": "success", "message": "Left channel"})

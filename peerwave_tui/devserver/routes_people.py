"""Users (protocol.md section 7)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from peerwave_tui.devserver.auth import Caller
from peerwave_tui.devserver.context import ServerContext
from peerwave_tui.devserver.httpkit import json_response, signed
from peerwave_tui.devserver.store_accounts import User
from peerwave_tui.devserver.util import InvalidInput, is_uuid, iso

MAX_PROFILE_IDS = 500


def add_routes(app: web.Application, ctx: ServerContext) -> None:
    routes = PeopleRoutes(ctx)
    app.router.add_get("/people/list", signed(ctx.auth, routes.people))
    app.router.add_get("/people/profiles", signed(ctx.auth, routes.profiles))


class PeopleRoutes:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    async def people(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        hub = self.ctx.hub
        return json_response(
            [
                {
                    "uuid": u.uuid,
                    "displayName": u.display_name,
                    "email": u.email,
                    "picture": u.picture,
                    "atName": u.at_name,
                    "isOnline": hub.user_online(u.uuid),
                }
                for u in self.ctx.accounts.visible_people(caller.user_id)
            ]
        )

    async def profiles(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        raw = request.query.get("uuids")
        if raw is None:
            raise InvalidInput("uuids is required")
        wanted = [u.strip() for u in raw.split(",") if u.strip()]
        if len(wanted) > MAX_PROFILE_IDS:
            raise InvalidInput(f"at most {MAX_PROFILE_IDS} uuids")
        users = self.ctx.accounts.users_by_uuids(u for u in wanted if is_uuid(u))
        return json_response({"profiles": [self._profile(u) for u in users]})

    def _profile(self, user: User) -> dict[str, Any]:
        online = self.ctx.hub.user_online(user.uuid)
        return {
            "uuid": user.uuid,
            "displayName": user.display_name,
            "picture": user.picture,
            "atName": user.at_name,
            "presence": {
                "status": "online" if online else "offline",
                "last_seen": None if user.last_seen_ms is None else iso(user.last_seen_ms),
            },
        }

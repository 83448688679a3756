"""Keeping, listing and ending sessions and devices (protocol.md sections 2.4, 2.5)."""

from __future__ import annotations

from aiohttp import web

from peerwave_tui.devserver.auth import SLIDE_TO_MS, Caller
from peerwave_tui.devserver.context import ServerContext
from peerwave_tui.devserver.ephemeral import COOKIE_NAME
from peerwave_tui.devserver.httpkit import json_response, read_json, signed
from peerwave_tui.devserver.util import error, is_uuid, iso, need_uuid


def add_routes(app: web.Application, ctx: ServerContext) -> None:
    routes = SessionRoutes(ctx)
    auth = ctx.auth
    app.router.add_get("/client/auth/test", signed(auth, routes.auth_test))
    app.router.add_post("/session/refresh", signed(auth, routes.session_refresh))
    app.router.add_post("/sessions/revoke", signed(auth, routes.revoke))
    app.router.add_post("/sessions/revoke-all", signed(auth, routes.revoke_all))
    app.router.add_get("/sessions/list", signed(auth, routes.list_sessions))
    app.router.add_get("/client/list", signed(auth, routes.list_clients))
    app.router.add_delete("/client/{clientId}", signed(auth, routes.delete_client))
    app.router.add_post("/logout", routes.logout)


class SessionRoutes:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    async def auth_test(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        return json_response(
            {
                "status": "ok",
                "message": "HMAC authentication successful",
                "userId": caller.user_id,
                "timestamp": iso(self.ctx.now_ms()),
                "authMethod": "HMAC",
            }
        )

    async def session_refresh(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        self.ctx.accounts.set_session_expiry(caller.client_id, self.ctx.now_ms() + SLIDE_TO_MS)
        return json_response({"status": "ok", "expiresIn": SLIDE_TO_MS // 1000})

    async def revoke(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        body = await read_json(request)
        client_id = need_uuid(body, "sessionId")
        session = self.ctx.accounts.session(client_id)
        if session is None or session.user_uuid != caller.user_id:
            raise error(404, "session_not_found", "No such session")
        self.ctx.accounts.delete_session(client_id)
        return json_response({"status": "ok"})

    async def revoke_all(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        self.ctx.accounts.delete_sessions_except(caller.user_id, caller.client_id)
        return json_response({"status": "ok"})

    async def list_sessions(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        accounts = self.ctx.accounts
        result = []
        for session in accounts.sessions_of(caller.user_id):
            device = accounts.device(session.client_id)
            result.append(
                {
                    "clientId": session.client_id,
                    "device_id": None if device is None else device.device_id,
                    "deviceInfo": session.device_info,
                    "createdAt": iso(session.created_ms),
                    "expiresAt": iso(session.expires_ms),
                }
            )
        return json_response(result)

    async def list_clients(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        devices = self.ctx.accounts.devices_of(caller.user_id)
        return json_response(
            {"clients": [{"clientid": d.client_id, "device_id": d.device_id} for d in devices]}
        )

    async def delete_client(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        client_id = request.match_info["clientId"]
        device = self.ctx.accounts.device(client_id) if is_uuid(client_id) else None
        if device is None or device.owner != caller.user_id:
            raise error(404, "client_not_found", "No such device")
        self.ctx.accounts.delete_device(device)
        await self.ctx.hub.disconnect_device(device.owner, device.device_id)
        return json_response({"status": "ok"})

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """Ends the cookie session only; HMAC sessions live on (protocol.md section 2.4)."""
        sid = request.cookies.get(COOKIE_NAME)
        if sid is not None:
            self.ctx.cookies.end(sid)
        response = json_response({"status": "ok"})
        response.del_cookie(COOKIE_NAME, path="/")
        return response

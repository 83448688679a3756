"""Creating accounts and logging in (protocol.md sections 2.1–2.3, 2.5).

Registration runs on a ``connect.sid`` cookie session; native logins hand out an
HMAC session secret (90 days for backup codes, 30 for magic keys).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from peerwave_tui import __version__
from peerwave_tui.devserver.auth import BACKUP_CODE_SESSION_MS, MAGIC_KEY_SESSION_MS, Caller
from peerwave_tui.devserver.context import ServerContext
from peerwave_tui.devserver.ephemeral import COOKIE_NAME, OTP_RESEND_WAIT_S, CookieSession
from peerwave_tui.devserver.httpkit import json_response, read_json, signed
from peerwave_tui.devserver.store_accounts import Device, DisplayNameTaken, User
from peerwave_tui.devserver.util import (
    EMAIL_RE,
    ApiError,
    InvalidInput,
    error,
    get_str,
    get_uuid,
    need_str,
    need_uuid,
)

MAX_PICTURE_BYTES = 1024 * 1024
MIN_CLIENT_VERSION = "1.0.0"
MAX_CLIENT_VERSION = "1.4.4"


def add_routes(app: web.Application, ctx: ServerContext) -> None:
    routes = AccountRoutes(ctx)
    app.router.add_post("/register", routes.register)
    app.router.add_post("/otp", routes.otp)
    app.router.add_get("/backupcode/list", routes.backup_codes)
    app.router.add_post("/client/profile/setup", routes.profile_setup)
    app.router.add_post("/backupcode/mobile-verify", routes.mobile_verify)
    app.router.add_get("/magic/generate", signed(ctx.auth, routes.magic_generate))
    app.router.add_post("/magic/verify", routes.magic_verify)
    app.router.add_post("/token/refresh", routes.token_refresh)
    app.router.add_get("/client/meta", routes.meta)


async def register_device(
    ctx: ServerContext, user_id: str, client_id: str, device_info: str | None
) -> Device:
    """Find or create the device; a clientId taken from another user is wiped first."""
    device, wiped = ctx.accounts.ensure_device(user_id, client_id, device_info)
    if wiped is not None:
        await ctx.hub.disconnect_device(wiped.owner, wiped.device_id)
    return device


class AccountRoutes:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    # ----------------------------------------------------------- cookie session

    def _cookie(self, request: web.Request) -> tuple[str, CookieSession] | None:
        sid = request.cookies.get(COOKIE_NAME)
        session = self.ctx.cookies.get(sid)
        return None if sid is None or session is None else (sid, session)

    def _cookie_or_new(self, request: web.Request) -> tuple[str, CookieSession]:
        return self._cookie(request) or self.ctx.cookies.create()

    def _verified_cookie(self, request: web.Request) -> tuple[str, User]:
        found = self._cookie(request)
        user = None
        if found is not None and found[1].user_id is not None:
            user = self.ctx.accounts.user_by_uuid(found[1].user_id)
        if found is None or user is None:
            raise ApiError(401, {"error": "unauthorized", "message": "Authentication required"})
        return found[0], user

    @staticmethod
    def _with_cookie(response: web.Response, sid: str) -> web.Response:
        response.set_cookie(COOKIE_NAME, sid, path="/", httponly=True, samesite="Lax")
        return response

    # ------------------------------------------------------------- registration

    def _registration_allowed(self, email: str, token: str | None) -> bool:
        config = self.ctx.config
        if email in config.admin_emails or config.registration_mode == "open":
            return True
        if config.registration_mode == "email_suffix":
            domain = email.rpartition("@")[2]
            for suffix in config.email_suffixes:
                suffix = suffix.lstrip("@")
                if domain == suffix or domain.endswith("." + suffix):
                    return True
            return False
        return token is not None and token in config.invitation_tokens

    async def register(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        email = need_str(body, "email", max_len=254).strip().lower()
        token = get_str(body, "invitationToken", required=False, max_len=512)
        if not EMAIL_RE.match(email):
            raise error(400, "Invalid email address")
        if not self._registration_allowed(email, token):
            raise error(403, "Registration is not open for this address or invitation")
        accounts = self.ctx.accounts
        user = accounts.user_by_email(email)
        if user is not None and user.verified and user.backup_codes_issued:
            raise error(
                400,
                "Email already registered. Try logging in instead or starting the recovery process.",
            )
        if user is None:
            accounts.create_user(email)
        sid, session = self._cookie_or_new(request)
        session.email = email
        wait = self.ctx.otps.wait_seconds(email)
        if wait:
            return self._with_cookie(json_response({"status": "waitotp", "wait": wait}), sid)
        self.ctx.otp_delivery.deliver(email, self.ctx.otps.issue(email))
        return self._with_cookie(json_response({"status": "otp", "wait": OTP_RESEND_WAIT_S}), sid)

    async def otp(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        email = need_str(body, "email", max_len=254).strip().lower()
        code = body.get("otp")
        client_id = get_uuid(body, "clientId", required=False)
        user = self.ctx.accounts.user_by_email(email)
        if user is None or not isinstance(code, str) or not self.ctx.otps.consume(email, code):
            raise error(400, "Invalid OTP")
        self.ctx.accounts.set_verified(user.uuid)
        if client_id is not None:
            await register_device(self.ctx, user.uuid, client_id, None)
        sid, session = self._cookie_or_new(request)
        session.email, session.user_id = email, user.uuid
        status = 200 if user.backup_codes_issued else 202
        return self._with_cookie(json_response({"status": "ok"}, status), sid)

    async def backup_codes(self, request: web.Request) -> web.StreamResponse:
        _, user = self._verified_cookie(request)
        codes = self.ctx.accounts.issue_backup_codes(user.uuid)
        if codes is None:
            raise error(400, "Backup codes have already been shown for this account")
        return json_response({"status": "ok", "backupCodes": codes})

    async def profile_setup(self, request: web.Request) -> web.StreamResponse:
        sid, user = self._verified_cookie(request)
        body = await read_json(request)
        display_name = need_str(body, "displayName", max_len=64).strip()
        at_name = get_str(body, "atName", required=False, max_len=64)
        picture = body.get("picture")
        if picture is not None:
            _check_picture(picture)
        try:
            self.ctx.accounts.set_profile(user.uuid, display_name, at_name, picture)
        except DisplayNameTaken:
            raise ApiError(
                409, {"error": "display_name_taken", "message": "This display name is taken"}
            ) from None
        self.ctx.cookies.end(sid)  # the cookie session ends after profile setup
        return json_response(
            {
                "status": "ok",
                "user": {"uuid": user.uuid, "email": user.email, "displayName": display_name},
            }
        )

    # ------------------------------------------------------------------- logins

    async def mobile_verify(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        email = need_str(body, "email", max_len=254).strip().lower()
        code = need_str(body, "backupCode", max_len=64)
        client_id = need_uuid(body, "clientId")
        device_info = get_str(body, "deviceInfo", required=False, allow_empty=True, max_len=500)
        accounts = self.ctx.accounts
        user = accounts.user_by_email(email)
        if user is None or not user.verified or not accounts.consume_backup_code(user.uuid, code):
            raise ApiError(401, {"status": "error", "message": "Invalid backup code"})
        secret, _ = await self._login(user, client_id, device_info, magic=False)
        return json_response(
            {
                "status": "ok",
                "message": "Login successful",
                "sessionSecret": secret,
                "userId": user.uuid,
                "email": user.email,
            }
        )

    async def _login(
        self, user: User, client_id: str, device_info: str | None, *, magic: bool
    ) -> tuple[str, str | None]:
        await register_device(self.ctx, user.uuid, client_id, device_info)
        self.ctx.accounts.mark_native_login(user.uuid)
        return self.ctx.accounts.create_session(
            client_id,
            user.uuid,
            MAGIC_KEY_SESSION_MS if magic else BACKUP_CODE_SESSION_MS,
            with_refresh_token=magic,
            device_info=device_info,
            store=not self.ctx.config.quirk_no_session,
        )

    def _server_url(self, request: web.Request) -> str:
        if self.ctx.config.public_url:
            return self.ctx.config.public_url.rstrip("/")
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
        return f"{proto or request.scheme}://{request.host}"

    async def magic_generate(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        key, expires = self.ctx.magic_keys.generate(self._server_url(request), caller.user_id)
        return json_response({"magicKey": key, "expiresAt": expires})

    async def magic_verify(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        key = body.get("key")
        client_id = need_uuid(body, "clientid")
        device_info = get_str(body, "deviceInfo", required=False, allow_empty=True, max_len=500)
        user_id = self.ctx.magic_keys.redeem(key) if isinstance(key, str) else None
        user = None if user_id is None else self.ctx.accounts.user_by_uuid(user_id)
        if user is None:
            raise ApiError(400, {"status": "failed", "message": "Invalid or expired magic key"})
        secret, refresh = await self._login(user, client_id, device_info, magic=True)
        return json_response(
            {
                "status": "ok",
                "message": "Magic key verified",
                "sessionSecret": secret,
                "userId": user.uuid,
                "email": user.email,
                "refreshToken": refresh,
            }
        )

    async def token_refresh(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        client_id = need_uuid(body, "clientId")
        token = need_str(body, "refreshToken", max_len=512)
        rotated = self.ctx.accounts.refresh_session(client_id, token, MAGIC_KEY_SESSION_MS)
        if rotated is None:
            raise error(401, "invalid_refresh_token", "Invalid or expired refresh token")
        secret, refresh, user_id = rotated
        return json_response({"sessionSecret": secret, "refreshToken": refresh, "userId": user_id})

    # -------------------------------------------------------------------- probe

    async def meta(self, request: web.Request) -> web.StreamResponse:
        config = self.ctx.config
        body: dict[str, Any] = {
            "serverName": config.name,
            "serverPicture": None,
            "version": __version__,
            "compatibility": {
                "minClientVersion": MIN_CLIENT_VERSION,
                "maxClientVersion": MAX_CLIENT_VERSION,
            },
            "registrationMode": config.registration_mode,
            "name": config.name,
            "description": "A PeerWave-compatible development server",
            "features": {"e2ee": True},
            "serverOperator": {
                "owner": "",
                "contact": config.admin_emails[0] if config.admin_emails else "",
                "location": "",
                "additionalInfo": "",
            },
        }
        return json_response(body)


def _check_picture(picture: Any) -> None:
    """A ``data:image/…;base64,…`` URL of at most 1 MB."""
    if not isinstance(picture, str) or not picture.startswith("data:image/"):
        raise InvalidInput("picture must be a data:image/...;base64,... URL")
    head, sep, data = picture.partition(",")
    if not sep or not head.endswith(";base64"):
        raise InvalidInput("picture must be a data:image/...;base64,... URL")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("picture is not valid base64") from None
    if len(raw) > MAX_PICTURE_BYTES:
        raise InvalidInput("picture is larger than 1 MB")

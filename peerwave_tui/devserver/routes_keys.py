"""Publishing Signal keys and fetching bundles (protocol.md sections 4.2, 4.3).

Stricter than the PeerWave server in one way (protocol.md section 10.2): every key
must be 33 bytes and every signature 64, in standard base64 with padding.
"""

from __future__ import annotations

import re

from aiohttp import web

from peerwave_tui.devserver.auth import Caller
from peerwave_tui.devserver.context import ServerContext
from peerwave_tui.devserver.httpkit import json_response, read_json, signed
from peerwave_tui.devserver.store_accounts import Device
from peerwave_tui.devserver.util import (
    KEY_SIZE,
    SIGNATURE_SIZE,
    ApiError,
    InvalidInput,
    error,
    is_uuid,
    need_b64,
    need_int,
    need_str,
    require_dict,
)

MAX_KEY_ID = 0xFFFFFF  # Signal key ids are 24-bit
MAX_BATCH = 100


def add_routes(app: web.Application, ctx: ServerContext) -> None:
    routes = KeyRoutes(ctx)
    auth = ctx.auth
    app.router.add_post("/signal/identity", signed(auth, routes.identity))
    app.router.add_post("/signal/signedprekey", signed(auth, routes.signed_prekey))
    app.router.add_post("/signal/prekeys/batch", signed(auth, routes.prekeys_batch))
    app.router.add_post("/signal/prekey", signed(auth, routes.prekey))
    app.router.add_delete("/signal/prekey/{id}", signed(auth, routes.delete_prekey))
    app.router.add_delete("/signal/keys", signed(auth, routes.wipe))
    app.router.add_get("/signal/status/minimal", signed(auth, routes.status))
    app.router.add_get("/signal/prekey_bundle/{userId}", signed(auth, routes.bundle))


def _success(message: str) -> web.Response:
    return json_response({"status": "success", "message": message})


class KeyRoutes:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    def _device(self, caller: Caller) -> Device:
        device = self.ctx.accounts.device(caller.client_id)
        if device is None:  # deleted between authentication and now
            raise ApiError(500, {"error": "client_not_found", "message": "Client not found"})
        return device

    async def identity(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        body = await read_json(request)
        public_key = need_b64(body, "publicKey", size=KEY_SIZE)
        registration_id = need_str(body, "registrationId", max_len=10)
        if not re.fullmatch(r"[0-9]{1,10}", registration_id):
            raise InvalidInput("registrationId must be a decimal string")
        self.ctx.keys.set_identity(self._device(caller), public_key, registration_id)
        return _success("Identity key stored")

    async def signed_prekey(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        body = await read_json(request)
        key_id = need_int(body, "id", maximum=MAX_KEY_ID)
        data = need_b64(body, "data", size=KEY_SIZE)
        sig = need_b64(body, "signature", size=SIGNATURE_SIZE)
        self.ctx.keys.add_signed_prekey(self._device(caller), key_id, data, sig)
        return _success("Signed prekey stored")

    async def prekeys_batch(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        body = await read_json(request)
        raw = body.get("preKeys")
        if not isinstance(raw, list) or not raw:
            raise InvalidInput("preKeys must be a non-empty array")
        if len(raw) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} preKeys per request")
        prekeys = []
        for entry in raw:
            entry = require_dict(entry, "each preKey")
            prekeys.append(
                (need_int(entry, "id", maximum=MAX_KEY_ID), need_b64(entry, "data", size=KEY_SIZE))
            )
        stored = self.ctx.keys.upsert_prekeys(self._device(caller), prekeys)
        return json_response({"status": "success", "stored": stored})

    async def prekey(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        body = await read_json(request)
        try:
            key_id = need_int(body, "id", maximum=MAX_KEY_ID)
            data = need_b64(body, "data", size=KEY_SIZE)
        except InvalidInput as exc:
            raise ApiError(400, {"status": "error", "message": str(exc)}) from None
        self.ctx.keys.upsert_prekeys(self._device(caller), [(key_id, data)])
        return _success("Prekey stored")

    async def delete_prekey(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        raw_id = request.match_info["id"]
        if not (raw_id.isascii() and raw_id.isdigit()) or int(raw_id) > MAX_KEY_ID:
            raise InvalidInput("the prekey id must be an integer")
        self.ctx.keys.delete_prekey(self._device(caller), int(raw_id))
        return web.Response(status=204)

    async def wipe(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        self.ctx.keys.wipe(self._device(caller))
        return _success("All keys removed")

    async def status(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        status = self.ctx.keys.status(self._device(caller))
        return json_response(
            {
                "identityKey": status.identity_key,
                "signedPreKey": status.signed_prekey,
                "signedPreKeySignature": status.signed_prekey_signature,
                "signedPreKeyId": status.signed_prekey_row,
                "preKeysCount": len(status.prekeys),
                "preKeyFingerprints": {str(k): v for k, v in status.prekeys.items()},
            }
        )

    async def bundle(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        """Every device of the target, then (for someone else) every device of the caller."""
        user_id = request.match_info["userId"]
        if not is_uuid(user_id):
            raise InvalidInput("userId must be a lowercase UUID")
        accounts = self.ctx.accounts
        if accounts.user_by_uuid(user_id) is None:
            raise error(404, "user_not_found", "No such user")
        devices = accounts.devices_of(user_id)
        if user_id != caller.user_id:
            devices += accounts.devices_of(caller.user_id)
        with self.ctx.db.transaction():
            entries = [self.ctx.keys.bundle_entry(d) for d in devices]
        return json_response(entries)

"""ApiService: the HTTP half of one server connection (protocol.md §2–§7).

One instance per (server, account); nothing is shared between instances. One method
per endpoint the client needs; each returns parsed ``wire`` dataclasses. Signing,
retries and error mapping live in ``api_transport.HttpTransport``: every signed request
serializes its JSON once, signs those exact bytes and sends them (``data=``), with a
fresh nonce each time (retries included). No ``Origin`` header is ever sent (aiohttp
adds none; the tests check it). Every call has a timeout, and every failure is one of
``errors.PeerwaveError``'s subclasses with a readable message.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from peerwave_tui.api_transport import (
    APP_SECRET_HEADER,
    APP_SECRET_VALUE,
    HttpTransport,
    normalize_base_url,
)
from peerwave_tui.api_transport import segment as _segment
from peerwave_tui.errors import (
    ApiError,
    LoggedOutError,
    NetworkError,
    ProtocolError,
    RequestTimeoutError,
    ServerFailureError,
    ServerUnreachableError,
)
from peerwave_tui.models import Contact, ServerMeta
from peerwave_tui.wire import accounts, events, keys
from peerwave_tui.wire import channels as ch
from peerwave_tui.wire import http_errors as he
from peerwave_tui.wire.fields import format_time
from peerwave_tui.wire.signing import Credentials

PREKEY_BATCH = 100  # the server takes at most 100 per request
PROFILE_BATCH = 50  # keeps the query string short

_CODE_USED_UP = (
    " The backup code may have been used up anyway: note which code you tried, and use "
    "another one only once the server works again."
)
_KEY_USED_UP = " The magic key may have been used up anyway: generate a new one to try again."


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class ApiService:
    """HTTP access to one server for one account."""

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials | None = None,
        request_timeout: float = 15.0,
        connect_timeout: float = 10.0,
        send_app_secret: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = HttpTransport(
            base_url,
            credentials=credentials,
            request_timeout=request_timeout,
            connect_timeout=connect_timeout,
            send_app_secret=send_app_secret,
            clock=clock,
        )
        self.base_url = self._http.base_url
        self.host = self._http.host

    # --- lifecycle and state -----------------------------------------------------

    async def aclose(self) -> None:
        """Close the HTTP sessions; idempotent."""
        await self._http.aclose()

    async def __aenter__(self) -> ApiService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def set_credentials(self, credentials: Credentials | None) -> None:
        self._http.credentials = credentials

    @property
    def credentials(self) -> Credentials | None:
        return self._http.credentials

    @property
    def clock_offset_ms(self) -> int:
        """Server clock minus ours, learned from a ``request_expired`` answer."""
        return self._http.clock_offset_ms

    def server_time_ms(self) -> int:
        """Our best idea of the server's clock (pass it to SocketService as ``clock_ms``)."""
        return self._http.server_time_ms()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: object | None = None,
        query: Mapping[str, str] | None = None,
        signed: bool = True,
    ) -> Any:
        """Any other endpoint (``/sessions/list``, ``/client/list``, ...): decoded JSON."""
        return await self._http.request(method, path, body=body, query=query, signed=signed)

    # --- server probe and sessions (§2.4, §2.5) -------------------------------------

    async def meta(self) -> ServerMeta:
        return accounts.parse_meta(
            self.base_url, await self._http.request("GET", "/client/meta", signed=False)
        )

    async def auth_test(self, *, just_logged_in: bool = False) -> None:
        """2xx or an error. ``just_logged_in``: a ``no_session`` right after a login is the
        server defect of protocol.md §9, reported as ``ServerDefectError`` with the fix."""
        try:
            await self._http.request("GET", "/client/auth/test")
        except LoggedOutError as exc:
            if just_logged_in and exc.code == "no_session":
                raise he.defect_error(self.host) from None
            raise

    async def check_new_session(self) -> None:
        """Right after a login: prove the session works (``auth_test(just_logged_in=True)``).
        Do not try another backup code when this raises ``ServerDefectError``."""
        await self.auth_test(just_logged_in=True)

    async def session_refresh(self) -> None:
        await self._http.request("POST", "/session/refresh")

    async def revoke_session(self, client_id: str) -> None:
        await self._http.request("POST", "/sessions/revoke", body={"sessionId": client_id})

    async def delete_client(self, client_id: str) -> None:
        await self._http.request("DELETE", f"/client/{_segment(client_id)}")

    async def generate_magic_key(self) -> tuple[str, datetime | None]:
        magic = accounts.parse_magic_key(await self._http.request("GET", "/magic/generate"))
        return magic.key, magic.expires_at

    async def refresh_token(self, client_id: str, refresh_token: str) -> accounts.RefreshResult:
        """``POST /token/refresh``: both the secret and the token are replaced."""
        _status, data = await self._http.exchange(
            "POST",
            "/token/refresh",
            body={"clientId": client_id, "refreshToken": refresh_token},
            query=None,
            signed=False,
            cookies=False,
            login="session refresh",
        )
        return accounts.parse_refresh(data)

    # --- registration: one cookie session (§2.1) ---------------------------------

    async def register(
        self, email: str, invitation_token: str | None = None
    ) -> accounts.RegisterResult:
        body: dict[str, str] = {"email": email}
        if invitation_token:
            body["invitationToken"] = invitation_token
        data = await self._http.request("POST", "/register", body=body, signed=False, cookies=True)
        return accounts.parse_register(data)

    async def verify_otp(self, email: str, otp: str, client_id: str) -> bool:
        """Returns ``True`` for a new account (HTTP 202: backup codes and profile next)."""
        status, _ = await self._http.exchange(
            "POST",
            "/otp",
            body={"email": email, "otp": otp.strip(), "clientId": client_id},
            query=None,
            signed=False,
            cookies=True,
            login="code",
        )
        return status == 202

    async def backup_codes(self) -> list[str]:
        """Works once per account; show the codes to the user at once."""
        data = await self._http.request("GET", "/backupcode/list", signed=False, cookies=True)
        return accounts.parse_backup_codes(data)

    async def setup_profile(self, display_name: str, at_name: str | None = None) -> Contact:
        body: dict[str, str] = {"displayName": display_name}
        if at_name:
            body["atName"] = at_name
        data = await self._http.request(
            "POST", "/client/profile/setup", body=body, signed=False, cookies=True
        )
        self._http.clear_cookies()  # the cookie session ends here (§2.1)
        return accounts.parse_profile_setup(data)

    # --- logins (§2.2, §2.3): never retried automatically -------------------------

    async def login_backup_code(
        self, email: str, code: str, client_id: str, device_info: str | None = None
    ) -> accounts.LoginResult:
        body: dict[str, str] = {
            "email": email,
            "backupCode": "".join(code.split()).upper(),
            "clientId": client_id,
        }
        if device_info:
            body["deviceInfo"] = device_info
        data = await self._login("/backupcode/mobile-verify", body, "backup code", _CODE_USED_UP)
        result = accounts.parse_login(data)
        return result if result.email else _with_email(result, email)

    async def verify_magic_key(
        self, key: str, client_id: str, device_info: str | None = None
    ) -> accounts.LoginResult:
        body: dict[str, str] = {"key": key.strip(), "clientid": client_id}  # lowercase (§9)
        if device_info:
            body["deviceInfo"] = device_info
        return accounts.parse_login(
            await self._login("/magic/verify", body, "magic key", _KEY_USED_UP)
        )

    async def _login(self, path: str, body: dict[str, str], what: str, used_up: str) -> Any:
        try:
            _status, data = await self._http.exchange(
                "POST", path, body=body, query=None, signed=False, cookies=False, login=what
            )
        except ServerFailureError as exc:
            raise ServerFailureError(exc.status, str(exc) + used_up, exc.code) from None
        except (RequestTimeoutError, ProtocolError) as exc:
            raise type(exc)(str(exc) + used_up) from None
        except (ServerUnreachableError, ApiError):
            raise  # refused before anything was consumed, or rejected/rate limited
        except NetworkError as exc:  # the connection broke after the request went out
            raise NetworkError(str(exc) + used_up) from None
        return data

    # --- Signal keys (§4) -----------------------------------------------------------

    async def key_status(self) -> keys.KeyStatus:
        return keys.parse_key_status(await self._http.request("GET", "/signal/status/minimal"))

    async def upload_identity(self, public_key: bytes, registration_id: int) -> None:
        body = {"publicKey": _b64(public_key), "registrationId": str(registration_id)}
        await self._http.request("POST", "/signal/identity", body=body)

    async def upload_signed_prekey(self, key_id: int, public: bytes, signature: bytes) -> None:
        body = {"id": key_id, "data": _b64(public), "signature": _b64(signature)}
        await self._http.request("POST", "/signal/signedprekey", body=body)

    async def upload_prekeys(self, prekeys: Iterable[tuple[int, bytes]]) -> int:
        """Upload one-time prekeys in batches of at most 100; returns how many were sent."""
        batch: list[dict[str, object]] = []
        sent = 0
        for key_id, public in prekeys:
            batch.append({"id": key_id, "data": _b64(public)})
            if len(batch) == PREKEY_BATCH:
                await self._http.request("POST", "/signal/prekeys/batch", body={"preKeys": batch})
                sent += len(batch)
                batch = []
        if batch:
            await self._http.request("POST", "/signal/prekeys/batch", body={"preKeys": batch})
            sent += len(batch)
        return sent

    async def delete_keys(self) -> None:
        await self._http.request("DELETE", "/signal/keys")

    async def prekey_bundle(self, user_id: str) -> list[keys.BundleDevice]:
        data = await self._http.request("GET", f"/signal/prekey_bundle/{_segment(user_id)}")
        return keys.parse_bundle(data)

    # --- users (§7) -----------------------------------------------------------------

    async def people(self) -> list[Contact]:
        return accounts.parse_contacts(await self._http.request("GET", "/people/list"))

    async def profiles(self, user_ids: Iterable[str]) -> list[Contact]:
        ids = [_segment(u) for u in dict.fromkeys(user_ids)]
        result: list[Contact] = []
        for start in range(0, len(ids), PROFILE_BATCH):
            chunk = ",".join(ids[start : start + PROFILE_BATCH])
            data = await self._http.request("GET", "/people/profiles", query={"uuids": chunk})
            result.extend(accounts.parse_profiles(data))
        return result

    # --- 1:1 items over HTTP (§5.4, §5.5; the socket is preferred) ---------------------

    async def pending_messages_http(self, limit: int = 50, offset: int = 0) -> events.PendingPage:
        data = await self._http.request(
            "GET",
            "/api/signal/pending-messages/v2",
            query={"limit": str(limit), "offset": str(offset)},
        )
        return events.parse_pending_page(data)

    async def delete_item_http(self, item_id: str, receiver_id: str, device_id: int) -> None:
        await self._http.request(
            "DELETE",
            f"/items/{_segment(item_id)}",
            query={"receiverId": receiver_id, "deviceId": str(device_id)},
        )

    # --- channels and groups (§6) ---------------------------------------------------

    async def channels(self) -> list[ch.Channel]:
        data = await self._http.request(
            "GET", "/client/channels", query={"type": "signal", "limit": "100"}
        )
        return ch.parse_channel_list(data)

    async def discover_channels(self, limit: int = 50, offset: int = 0) -> ch.ChannelPage:
        data = await self._http.request(
            "GET", "/client/channels/discover", query={"limit": str(limit), "offset": str(offset)}
        )
        return ch.parse_channel_page(data)

    async def create_channel(
        self, name: str, description: str = "", private: bool = False
    ) -> ch.Channel:
        body = {"name": name, "description": description, "private": private, "type": "signal"}
        return ch.parse_channel(await self._http.request("POST", "/client/channels", body=body))

    async def join_channel(self, channel_id: str) -> ch.Channel:
        data = await self._http.request("POST", f"/client/channels/{_segment(channel_id)}/join")
        return ch.parse_join(data)

    async def leave_channel(self, channel_id: str) -> None:
        await self._http.request("POST", f"/api/channels/{_segment(channel_id)}/leave")

    async def channel_members(self, channel_id: str) -> list[ch.ChannelMember]:
        data = await self._http.request("GET", f"/api/channels/{_segment(channel_id)}/members")
        return ch.parse_members(data)

    async def channel_member_devices(self, channel_id: str) -> list[ch.MemberDevice]:
        data = await self._http.request("GET", f"/channels/{_segment(channel_id)}/member-devices")
        return ch.parse_member_devices(data)

    async def add_channel_member(self, channel_id: str, user_id: str) -> None:
        await self._http.request(
            "POST", f"/api/channels/{_segment(channel_id)}/members", body={"userId": user_id}
        )

    async def distribute_sender_key(
        self,
        group_id: str,
        recipient_id: str,
        recipient_device_id: int,
        encrypted_distribution: bytes,
        message_type: int,
    ) -> bool:
        """``True`` when delivered live, ``False`` when stored for later. Any failure
        (the PeerWave server answers 500 for offline devices) raises: not delivered."""
        body = {
            "groupId": group_id,
            "recipientId": recipient_id,
            "recipientDeviceId": recipient_device_id,
            "encryptedDistribution": _b64(encrypted_distribution),
            "messageType": message_type,
        }
        data = await self._http.request("POST", "/api/signal/distribute-sender-key", body=body)
        return isinstance(data, Mapping) and data.get("delivered") is True

    async def group_items(
        self, channel_id: str, since: datetime | None = None, limit: int | None = None
    ) -> list[events.GroupItem]:
        query: dict[str, str] = {}
        if since is not None:
            query["since"] = format_time(since)
        if limit is not None:
            query["limit"] = str(limit)
        data = await self._http.request(
            "GET", f"/api/group-items/{_segment(channel_id)}", query=query or None
        )
        return events.parse_group_items(data)

    async def mark_group_item_read_http(self, item_id: str) -> None:
        await self._http.request("POST", f"/api/group-items/{_segment(item_id)}/read")


def _with_email(result: accounts.LoginResult, email: str) -> accounts.LoginResult:
    return accounts.LoginResult(result.session_secret, result.user_id, email, result.refresh_token)


__all__ = ["APP_SECRET_HEADER", "APP_SECRET_VALUE", "ApiService", "normalize_base_url"]

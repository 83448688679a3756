"""Accounts on a dev server made with the client's own ApiService (not the fixtures'
plain-HTTP helpers), so the registration and login paths of ApiService are exercised."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from peerwave_tui.api import ApiService
from peerwave_tui.wire import Credentials
from tests.devserver_fixtures import OtpSource


@dataclass
class ClientAccount:
    email: str
    credentials: Credentials
    backup_codes: list[str]
    api: ApiService  # logged in; closed by the caller

    @property
    def user_id(self) -> str:
        return self.credentials.user_id


def random_key() -> bytes:
    return b"\x05" + os.urandom(32)


async def register_and_login(
    url: str, otp_source: OtpSource, *, name: str | None = None, with_keys: bool = True
) -> ClientAccount:
    tag = uuid.uuid4().hex[:8]
    email = f"{name or 'user'}-{tag}@example.org"
    client_id = str(uuid.uuid4())
    api = ApiService(url)
    try:
        result = await api.register(email)
        assert result.status == "otp" and result.wait > 0
        otp = await otp_source.read_otp(email)
        assert await api.verify_otp(email, otp, client_id) is True
        codes = await api.backup_codes()
        await api.setup_profile(f"{name or 'User'} {tag}", at_name=f"at{tag}")
        login = await api.login_backup_code(email, codes[0].lower(), client_id, "tests")
        creds = Credentials(client_id, login.session_secret, login.user_id, login.refresh_token)
        api.set_credentials(creds)
        await api.auth_test(just_logged_in=True)
        if with_keys:
            await api.upload_identity(random_key(), 1000 + int(tag[:3], 16))
            await api.upload_signed_prekey(1, random_key(), os.urandom(64))
            await api.upload_prekeys([(i, random_key()) for i in range(1, 21)])
    except BaseException:
        await api.aclose()
        raise
    return ClientAccount(email, creds, codes[1:], api)

"""Creating accounts on a server: register, log in with a backup code, link a device.

Key custody is settled before any network call, so a machine without a secure
keyring and without a passphrase creates nothing, locally or on the server. Each new
account gets its own clientId and its own store; nothing is shared between servers.
"""

from __future__ import annotations

import logging
import platform
import uuid
from dataclasses import dataclass, field

from peerwave_tui.api import ApiService
from peerwave_tui.errors import ConfigError, PeerwaveError, UsageError
from peerwave_tui.keysync import maintain_keys
from peerwave_tui.models import AccountRecord, KeyMode
from peerwave_tui.paths import Paths, normalize_server_url, server_key
from peerwave_tui.secrets import AccountSecrets
from peerwave_tui.signal import KeyManager
from peerwave_tui.storage.custody import KeyCustody
from peerwave_tui.storage.device_store import DeviceStore
from peerwave_tui.wire import Credentials, LoginResult

log = logging.getLogger(__name__)


def device_info() -> str:
    return f"peerwave-tui on {platform.system() or 'unknown OS'}"


@dataclass
class Registration:
    """State between ``POST /register`` and the OTP (holds the cookie session)."""

    server_url: str
    email: str
    client_id: str
    key_mode: KeyMode
    api: ApiService = field(repr=False)


@dataclass
class NewAccount:
    record: AccountRecord
    store: DeviceStore
    backup_codes: list[str] = field(default_factory=list, repr=False)


class AccountFactory:
    """Builds new accounts; the manager owns it and saves the records it returns."""

    def __init__(self, paths: Paths, custody: KeyCustody) -> None:
        self.paths = paths
        self.custody = custody

    # --- register ----------------------------------------------------------------

    async def register_start(self, url: str, email: str) -> Registration:
        email = _clean_email(email)
        server_url = normalize_server_url(url)
        key_mode = await self.custody.settle_for_new_store()
        api = ApiService(server_url)
        try:
            await api.register(email)
        except BaseException:
            await api.aclose()
            raise
        return Registration(server_url, email, str(uuid.uuid4()), key_mode, api)

    async def register_finish(
        self, reg: Registration, otp: str, display_name: str, at_name: str | None
    ) -> NewAccount:
        if not display_name.strip():
            raise UsageError("A display name is required.")
        api = reg.api
        store: DeviceStore | None = None
        try:
            await api.verify_otp(reg.email, otp.strip(), reg.client_id)
            codes = await api.backup_codes()
            record = self._record(reg.server_url, reg.email, reg.client_id, reg.key_mode)
            store = await self._create_store(record)
            secrets = AccountSecrets(email=reg.email, backup_codes=list(codes))
            await store.run(secrets.save)
            await api.setup_profile(display_name.strip(), at_name.strip() if at_name else None)
            login = await api.login_backup_code(reg.email, codes[0], reg.client_id, device_info())
            secrets.backup_codes = list(codes[1:])
            await self._finish_login(store, record, api, secrets, login)
            record.display_name = display_name.strip()
            return NewAccount(record, store, list(codes))
        except BaseException:
            if store is not None:
                await store.aclose()
            raise
        finally:
            await api.aclose()

    # --- log in with a backup code -------------------------------------------------

    async def login(
        self, url: str, email: str, backup_code: str, existing: AccountRecord | None
    ) -> NewAccount:
        email = _clean_email(email)
        server_url = normalize_server_url(url)
        if existing is not None:
            record = existing
            key_mode = existing.key_mode
        else:
            key_mode = await self.custody.settle_for_new_store()
            record = self._record(server_url, email, str(uuid.uuid4()), key_mode)
        api = ApiService(server_url)
        store: DeviceStore | None = None
        try:
            login = await api.login_backup_code(email, backup_code, record.client_id, device_info())
            store = await self._open_or_create(record)
            secrets = await store.run(AccountSecrets.load)
            secrets.email = email
            await self._finish_login(store, record, api, secrets, login)
            await self._learn_profile(api, record)
            return NewAccount(record, store)
        except BaseException:
            if store is not None:
                await store.aclose()
            raise
        finally:
            await api.aclose()

    # --- link with a magic key -----------------------------------------------------

    async def link(self, magic_key: str, url_override: str | None) -> NewAccount:
        key = magic_key.strip()
        server_url = normalize_server_url(url_override or magic_key_server(key))
        key_mode = await self.custody.settle_for_new_store()
        client_id = str(uuid.uuid4())
        api = ApiService(server_url)
        store: DeviceStore | None = None
        try:
            login = await api.verify_magic_key(key, client_id, device_info())
            record = self._record(server_url, login.email or "", client_id, key_mode)
            store = await self._create_store(record)
            secrets = AccountSecrets(email=login.email)
            await self._finish_login(store, record, api, secrets, login)
            await self._learn_profile(api, record)
            return NewAccount(record, store)
        except BaseException:
            if store is not None:
                await store.aclose()
            raise
        finally:
            await api.aclose()

    # --- shared steps --------------------------------------------------------------

    def _record(self, server_url: str, email: str, client_id: str, mode: KeyMode) -> AccountRecord:
        return AccountRecord(
            server_url=server_url,
            server_key=server_key(server_url),
            client_id=client_id,
            email=email,
            key_mode=mode,
        )

    async def _create_store(self, record: AccountRecord) -> DeviceStore:
        directory = self.paths.store_dir(record.server_key, record.client_id)
        key = await self.custody.new_store_key(record.account_id, record.key_mode)
        store = await DeviceStore.open(
            directory,
            key,
            server_url=record.server_url,
            key_mode=record.key_mode,
            keyring_backend=self.custody.backend_name()
            if record.key_mode is KeyMode.KEYRING
            else None,
            create=True,
            kdf=self.custody.kdf_params_for_new_stores()
            if record.key_mode is KeyMode.PASSPHRASE
            else None,
        )
        await store.run(lambda conn: KeyManager(conn).ensure_identity())
        return store

    async def _open_or_create(self, record: AccountRecord) -> DeviceStore:
        directory = self.paths.store_dir(record.server_key, record.client_id)
        if not DeviceStore.exists(directory):
            return await self._create_store(record)
        info = DeviceStore.read_store_info(directory)
        key = await self.custody.existing_store_key(record.account_id, info)
        return await DeviceStore.open(
            directory,
            key,
            server_url=record.server_url,
            key_mode=info.key_mode,
            keyring_backend=info.keyring_backend,
            create=False,
        )

    async def _finish_login(
        self,
        store: DeviceStore,
        record: AccountRecord,
        api: ApiService,
        secrets: AccountSecrets,
        login: LoginResult,
    ) -> None:
        secrets.session_secret = login.session_secret
        secrets.refresh_token = login.refresh_token
        secrets.user_id = login.user_id
        if login.email:
            secrets.email = login.email
        # Keep the secret before anything else can fail: the backup code is used up.
        await store.run(secrets.save)
        record.user_id = login.user_id
        if login.email:
            record.email = login.email
        api.set_credentials(
            Credentials(
                client_id=record.client_id,
                session_secret=login.session_secret,
                user_id=login.user_id,
                refresh_token=login.refresh_token,
            )
        )
        await api.check_new_session()
        await maintain_keys(store, api)

    async def _learn_profile(self, api: ApiService, record: AccountRecord) -> None:
        try:
            profiles = await api.profiles([record.user_id or ""])
        except PeerwaveError as exc:
            log.info("could not read own profile: %s", type(exc).__name__)
            return
        for profile in profiles:
            if profile.user_id == record.user_id:
                record.display_name = profile.display_name


def magic_key_server(key: str) -> str:
    """Field 1 of a magic key (``serverUrl|random|time|tag``), minus a trailing slash."""
    fields = key.split("|")
    if len(fields) != 4 or not fields[0]:
        raise ConfigError("That is not a magic key (expected four fields separated by '|').")
    return fields[0].rstrip("/")


def _clean_email(email: str) -> str:
    cleaned = email.strip()
    if "@" not in cleaned or cleaned.startswith("@") or cleaned.endswith("@"):
        raise UsageError(f"{email!r} is not an e-mail address.")
    return cleaned

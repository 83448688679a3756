"""Creating accounts on a server: register, log in with a backup code, link a device.

Key custody is settled before any network call, so a machine without a secure
keyring and without a passphrase creates nothing, locally or on the server. Each new
account gets its own clientId and its own store; nothing is shared between servers.

Registration is resumable: ``register_finish`` remembers each step that worked (OTP
verified, backup codes fetched and kept in the new store, profile set up), so after a
wrong OTP or a refused display name the same registration is finished by calling it
again. ``abandon`` undoes what an unfinished registration left locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from peerwave_tui.api import ApiService
from peerwave_tui.errors import (
    ApiError,
    KeyCustodyError,
    PeerwaveError,
    ProtocolError,
    RegistrationIncompleteError,
    StoreError,
    UsageError,
)
from peerwave_tui.keysync import maintain_keys
from peerwave_tui.models import AccountRecord, KeyMode
from peerwave_tui.paths import Paths, normalize_server_url, server_key
from peerwave_tui.secrets import AccountSecrets
from peerwave_tui.signal import KeyManager
from peerwave_tui.storage.custody import KeyCustody
from peerwave_tui.storage.device_store import DeviceStore
from peerwave_tui.wire import Credentials, LoginResult, magic_key_server_url

log = logging.getLogger(__name__)


def device_info() -> str:
    return f"peerwave-tui on {platform.system() or 'unknown OS'}"


@dataclass
class Registration:
    """State between ``POST /register`` and the end (holds the cookie session)."""

    server_url: str
    email: str
    client_id: str
    key_mode: KeyMode
    api: ApiService = field(repr=False)
    verified: bool = False
    record: AccountRecord | None = None
    store: DeviceStore | None = None
    codes: list[str] = field(default_factory=list, repr=False)
    profile_done: bool = False


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
        """OTP → backup codes (kept in the new store) → profile → first login → keys.
        Raises with the registration still usable for another try."""
        name = display_name.strip()
        if not name:
            raise UsageError("A display name is required.")
        api = reg.api
        if not reg.verified:
            await api.verify_otp(reg.email, otp.strip(), reg.client_id)
            reg.verified = True
        if reg.store is None:
            codes = await api.backup_codes()
            record = self._record(reg.server_url, reg.email, reg.client_id, reg.key_mode)
            store = await self._create_store(record)
            await store.run(AccountSecrets(email=reg.email, backup_codes=list(codes)).save)
            reg.record, reg.store, reg.codes = record, store, list(codes)
        assert reg.record is not None
        if not reg.profile_done:
            try:
                await api.setup_profile(name, at_name.strip().lstrip("@") if at_name else None)
            except ApiError as exc:
                raise RegistrationIncompleteError(
                    f"The server refused the profile: {exc} The account exists: choose "
                    "another name to finish it now (a name can only be set during "
                    "registration), or log in later with one of its backup codes.",
                    reg.codes,
                ) from None
            reg.profile_done = True
            reg.record.display_name = name
        await self._first_login(reg)
        await api.aclose()
        # The first login used one code: the user is shown the ones still usable,
        # exactly what the encrypted store keeps.
        remaining = (await reg.store.run(AccountSecrets.load)).backup_codes
        return NewAccount(reg.record, reg.store, list(remaining))

    async def _first_login(self, reg: Registration) -> None:
        assert reg.store is not None and reg.record is not None
        secrets = await reg.store.run(AccountSecrets.load)
        if secrets.session_secret is None:
            if not secrets.backup_codes:
                raise RegistrationIncompleteError(
                    "No backup code is left to log in with.", reg.codes
                )
            code = secrets.backup_codes[0]
            login = await reg.api.login_backup_code(reg.email, code, reg.client_id, device_info())
            secrets.backup_codes = secrets.backup_codes[1:]
            await self._keep_login(reg.store, reg.record, secrets, login)
        await self._after_login(reg.store, reg.record, reg.api, secrets)
        await self._learn_server_name(reg.api, reg.record)

    async def abandon(self, reg: Registration) -> None:
        """An unfinished registration is dropped: its HTTP session, and the store it
        may have created (nothing in it can be used without the finished account)."""
        with contextlib.suppress(Exception):
            await reg.api.aclose()
        if reg.store is None or reg.record is None:
            return
        with contextlib.suppress(StoreError):
            await reg.store.aclose()
        directory = self.paths.store_dir(reg.record.server_key, reg.record.client_id)
        with contextlib.suppress(StoreError, OSError):
            await DeviceStore.delete(directory)
        with contextlib.suppress(KeyCustodyError):
            await self.custody.forget_key(reg.record.account_id, reg.record.key_mode)
        reg.store = None

    # --- log in with a backup code -------------------------------------------------

    async def login(
        self, url: str, email: str, backup_code: str, existing: AccountRecord | None
    ) -> NewAccount:
        email = _clean_email(email)
        server_url = normalize_server_url(url)
        if existing is not None:
            record = existing
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
            await self._keep_login(store, record, secrets, login)
            await self._after_login(store, record, api, secrets)
            await self._learn_profile(api, record)
            await self._learn_server_name(api, record)
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
        try:
            key_url = magic_key_server_url(key)
        except ProtocolError as exc:
            raise UsageError(str(exc)) from None
        server_url = normalize_server_url(url_override or key_url)
        key_mode = await self.custody.settle_for_new_store()
        client_id = str(uuid.uuid4())
        api = ApiService(server_url)
        store: DeviceStore | None = None
        try:
            login = await api.verify_magic_key(key, client_id, device_info())
            record = self._record(server_url, login.email or "", client_id, key_mode)
            store = await self._create_store(record)
            secrets = AccountSecrets(email=login.email)
            await self._keep_login(store, record, secrets, login)
            await self._after_login(store, record, api, secrets)
            await self._learn_profile(api, record)
            await self._learn_server_name(api, record)
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
        return await open_existing_store(self.custody, directory, record)

    async def _keep_login(
        self,
        store: DeviceStore,
        record: AccountRecord,
        secrets: AccountSecrets,
        login: LoginResult,
    ) -> None:
        """Keep the new session at once: the backup code or magic key is used up."""
        secrets.session_secret = login.session_secret
        secrets.refresh_token = login.refresh_token
        secrets.user_id = login.user_id
        if login.email:
            secrets.email = login.email
        await store.run(secrets.save)
        record.user_id = login.user_id
        if login.email:
            record.email = login.email

    async def _after_login(
        self, store: DeviceStore, record: AccountRecord, api: ApiService, secrets: AccountSecrets
    ) -> None:
        """Prove the session works (protocol.md §9 ``no_session`` defect), publish keys."""
        api.set_credentials(
            Credentials(
                client_id=record.client_id,
                session_secret=secrets.session_secret or "",
                user_id=record.user_id or "",
                refresh_token=secrets.refresh_token,
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

    async def _learn_server_name(self, api: ApiService, record: AccountRecord) -> None:
        try:
            meta = await api.meta()
        except PeerwaveError as exc:
            log.info("could not read the server's description: %s", type(exc).__name__)
            return
        record.server_name = meta.name


def _clean_email(email: str) -> str:
    cleaned = email.strip()
    if "@" not in cleaned or cleaned.startswith("@") or cleaned.endswith("@"):
        raise UsageError(f"{email!r} is not an e-mail address.")
    return cleaned


__all__ = ["AccountFactory", "NewAccount", "Registration", "device_info"]


async def open_existing_store(
    custody: KeyCustody, directory: Path, record: AccountRecord
) -> DeviceStore:
    """Open an account's existing store in the key mode its store.json records (never
    the mode asked for now: a key is never made over existing data)."""
    info = await asyncio.to_thread(DeviceStore.read_store_info, directory)
    key = await custody.existing_store_key(record.account_id, info)
    return await DeviceStore.open(
        directory,
        key,
        server_url=record.server_url,
        key_mode=info.key_mode,
        keyring_backend=info.keyring_backend,
        create=False,
    )

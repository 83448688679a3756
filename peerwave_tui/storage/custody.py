"""Key custody: where each store's 32-byte database key comes from.

Three modes (``KeyMode``):

- ``keyring``: 32 random bytes in the OS keyring, service ``peerwave-tui``, user
  ``<server-key>/<client-id>``. Only secure backends are used (keyring_backends.py).
- ``passphrase``: one memory-hard KDF per process turns the passphrase into a master
  key; each store's key is HKDF(master key, account id) (kdf.py).
- ``memory``: the demo's throwaway key, kept only in this object.

A new account's mode is settled by ``settle_for_new_store()`` before any network call;
with no secure keyring and no passphrase it raises ``NoSecureKeyringError`` and
creates nothing. An existing store always uses the mode recorded in its
``store.json``. A key is never generated over existing data, and a keyring entry is
never overwritten. Failures concern one store only and never change its files.

One ``KeyCustody`` per process (built by the CLI from its options, passed down).
Keyring calls, the KDF and the prompt run off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peerwave_tui.errors import (
    KeyCustodyError,
    NoSecureKeyringError,
    StoreError,
    WrongPassphraseError,
)
from peerwave_tui.models import KeyMode
from peerwave_tui.paths import Paths
from peerwave_tui.storage import kdf
from peerwave_tui.storage.device_store import DeviceStore
from peerwave_tui.storage.fs import write_private_file_exclusive
from peerwave_tui.storage.kdf import KdfParams
from peerwave_tui.storage.keyring_backends import (
    backend_id,
    describe_backend,
    select_secure_backend,
)
from peerwave_tui.storage.keyring_keys import (
    SERVICE,
    decode_key,
    delete_key,
    describe_error,
    put_new_key,
)
from peerwave_tui.storage.passphrase import (
    PASSPHRASE_ENV,
    PassphraseSource,
    passphrase_source_from,
    run_in_daemon_thread,
)
from peerwave_tui.storage.store_info import StoreInfo

__all__ = [
    "SERVICE",
    "KdfRun",
    "KeyCustody",
    "PassphraseSource",
    "passphrase_source_from",
]

log = logging.getLogger(__name__)

_PROBE_USER = "peerwave-tui-probe"

_WAYS_OUT = (
    "Either use passphrase mode (--key-mode passphrase, or supply the passphrase with "
    f"{PASSPHRASE_ENV} or --passphrase-file), or install and unlock an OS keyring that "
    "offers the Secret Service (GNOME Keyring, KWallet, KeePassXC) and try again."
)


@dataclass(frozen=True)
class KdfRun:
    """One run of the memory-hard KDF (for the benchmark report)."""

    algorithm: str
    seconds: float


class KeyCustody:
    """Hands out store keys. ``mode`` is ``--key-mode`` (a ``KeyMode``, its value, or
    None to choose automatically). ``keyring_backend`` overrides keyring's own choice
    (tests; normally None)."""

    def __init__(
        self,
        paths: Paths,
        mode: KeyMode | str | None = None,
        passphrase_source: PassphraseSource | None = None,
        *,
        keyring_backend: Any | None = None,
    ) -> None:
        self._paths = paths
        self._requested = KeyMode(mode) if mode else None
        self._source = passphrase_source or PassphraseSource()
        self._given_backend = keyring_backend
        self._backend_checked = False
        self._backend: Any | None = None  # the secure backend we use, if any
        self._backend_problem: str | None = None
        self._masters: dict[tuple[Any, ...], bytes] = {}
        self._refused: set[tuple[Any, ...]] = set()  # KDF params whose passphrase was wrong
        self._new_store_params: KdfParams | None = None
        self._memory_keys: dict[str, bytes] = {}
        self._lock: asyncio.Lock | None = None
        self.kdf_runs: list[KdfRun] = []

    # --- choosing a mode for a new account ------------------------------------------

    async def settle_for_new_store(self) -> KeyMode:
        """Decide the key mode of a new account, before any network call.

        Keyring mode needs a secure, working keyring; passphrase mode runs the KDF now
        (asking on the terminal if that is where the passphrase comes from). Raises
        ``NoSecureKeyringError`` (naming both ways out) and creates nothing when
        neither is possible.
        """
        requested = self._requested
        if requested is KeyMode.MEMORY:
            return KeyMode.MEMORY
        if requested is KeyMode.PASSPHRASE or (requested is None and self._source.supplied):
            await self._master_for_new_stores()
            return KeyMode.PASSPHRASE
        problem = await self._usable_keyring_problem()
        if problem is None:
            return KeyMode.KEYRING
        if requested is None and self._source.can_prompt:
            # No keyring, but a terminal: offer passphrase mode (empty answer: refuse).
            try:
                await self._master_for_new_stores(missing=_NoPassphrase())
            except _NoPassphrase:
                pass
            else:
                return KeyMode.PASSPHRASE
        raise NoSecureKeyringError(
            f"No secure OS keyring is available to keep this account's key: {problem}. "
            f"No passphrase was given either, so nothing was created. {_WAYS_OUT}"
        )

    # --- keys of new stores -----------------------------------------------------------

    async def new_store_key(self, account_id: str, mode: KeyMode) -> bytes:
        """A fresh key for a new store (never over existing data)."""
        directory = self._store_dir(account_id)
        if await asyncio.to_thread(DeviceStore.exists, directory):
            raise StoreError(
                f"A store already exists in {directory}; a new key is never generated over "
                "existing data. Open it, or remove the account first."
            )
        if mode is KeyMode.KEYRING:
            backend = await self._secure_backend()
            if backend is None:
                raise NoSecureKeyringError(
                    "No secure OS keyring is available to keep this account's key: "
                    f"{self._backend_problem}. {_WAYS_OUT}"
                )
            key = secrets.token_bytes(kdf.KEY_BYTES)
            await asyncio.to_thread(put_new_key, backend, account_id, key)
            return key
        if mode is KeyMode.PASSPHRASE:
            master = await self._master_for_new_stores()
            return kdf.derive_store_key(master, account_id)
        key = secrets.token_bytes(kdf.KEY_BYTES)
        self._memory_keys[account_id] = key
        return key

    def backend_name(self) -> str | None:
        """The secure keyring backend in use (``module.Class``), once one was looked up;
        None when there is none (or none was needed yet)."""
        return backend_id(self._backend) if self._backend is not None else None

    def kdf_params_for_new_stores(self) -> KdfParams | None:
        """Passphrase mode's KDF parameters, once settled: give them to
        ``DeviceStore.open(kdf=...)`` so the store records its own salt."""
        return self._new_store_params

    # --- keys of existing stores -------------------------------------------------------

    async def existing_store_key(self, account_id: str, info: StoreInfo) -> bytes:
        """The key of an existing store, by the mode its ``store.json`` records."""
        if info.key_mode is KeyMode.KEYRING:
            return await self._keyring_key(account_id, info)
        if info.key_mode is KeyMode.PASSPHRASE:
            params = info.kdf or await asyncio.to_thread(self._read_salt_file)
            if params is None:
                raise KeyCustodyError(
                    f"The store for {info.server_url} is in passphrase mode, but the KDF "
                    f"salt ({self._paths.kdf_salt_file}) is gone, so its key cannot be "
                    "derived. Restore that file from a backup, or remove the account and "
                    "add it again. The store's files were not changed."
                )
            master = await self._master_key(
                params, new=False, missing=_no_passphrase_for(info.server_url)
            )
            return kdf.derive_store_key(master, account_id)
        key = self._memory_keys.get(account_id)
        if key is None:
            raise KeyCustodyError(
                f"The store for {info.server_url} was made with a throwaway in-memory key "
                "(key mode: memory) by a process that has ended, so it cannot be opened. "
                "Remove it."
            )
        return key

    async def forget_key(self, account_id: str, mode: KeyMode) -> None:
        """Remove a store's key (account removal). A missing entry is not an error."""
        if mode is KeyMode.MEMORY:
            self._memory_keys.pop(account_id, None)
            return
        if mode is not KeyMode.KEYRING:
            return  # passphrase keys are derived, nothing is stored per account
        backend = await self._secure_backend()
        if backend is None:
            raise KeyCustodyError(
                f"The keyring entry of {account_id} could not be deleted: no secure OS "
                f"keyring is available ({self._backend_problem})."
            )
        await asyncio.to_thread(delete_key, backend, account_id)

    def provide_passphrase(self, passphrase: str) -> None:
        """Use this passphrase from now on (a UI's unlock dialog); forgets earlier
        failures so LOCKED stores can be tried again."""
        self._source = PassphraseSource.fixed(passphrase, "provided")
        self._refused.clear()

    # --- keyring ---------------------------------------------------------------------

    async def _secure_backend(self) -> Any | None:
        if not self._backend_checked:
            async with self._get_lock():
                if not self._backend_checked:
                    await asyncio.to_thread(self._resolve_backend)
        return self._backend

    def _resolve_backend(self) -> None:
        try:
            if self._given_backend is not None:
                raw = self._given_backend
            else:
                import keyring

                raw = keyring.get_keyring()
        except Exception as exc:  # noqa: BLE001 - keyring raises many kinds while loading
            self._backend = None
            self._backend_problem = f"keyring could not load a backend: {exc}"
        else:
            self._backend = select_secure_backend(raw)
            self._backend_problem = None if self._backend is not None else describe_backend(raw)
        self._backend_checked = True

    async def _usable_keyring_problem(self) -> str | None:
        """None when a secure keyring answers; else why not (for the message)."""
        backend = await self._secure_backend()
        if backend is None:
            return self._backend_problem
        try:
            # A read of an entry that never exists: proves the keyring answers (and
            # lets a locked one ask to be unlocked) before anything is created.
            await asyncio.to_thread(backend.get_password, SERVICE, _PROBE_USER)
        except Exception as exc:  # noqa: BLE001 - backends raise their own error types
            return f"the keyring {backend_id(backend)} did not answer: {describe_error(exc)}"
        return None

    async def _keyring_key(self, account_id: str, info: StoreInfo) -> bytes:
        recorded = info.keyring_backend or "unknown"
        where = f"The key of the store for {info.server_url}"
        untouched = "The store's files were not changed."
        backend = await self._secure_backend()
        if backend is None:
            raise KeyCustodyError(
                f"{where} is in the OS keyring (key mode: keyring, backend {recorded}), but "
                f"no secure keyring can be used now: {self._backend_problem}. Start or "
                f"unlock that keyring and try again. {untouched}"
            )
        try:
            value = await asyncio.to_thread(backend.get_password, SERVICE, account_id)
        except Exception as exc:  # noqa: BLE001
            raise KeyCustodyError(
                f"{where} could not be read from the OS keyring (key mode: keyring, "
                f"backend {recorded}): {describe_error(exc)}. Unlock the keyring and try "
                f"again. {untouched}"
            ) from exc
        current = backend_id(backend)
        if value is None:
            if info.keyring_backend and info.keyring_backend != current:
                raise KeyCustodyError(
                    f"{where} was kept in the keyring backend {recorded} (key mode: "
                    f"keyring), but the keyring in use now is {current}, which does not "
                    "have it. Switch back to the keyring the store was created with; if "
                    f"that is impossible, remove the account and add it again. {untouched}"
                )
            raise KeyCustodyError(
                f"{where} is missing from the OS keyring (key mode: keyring, backend "
                f"{recorded}, service '{SERVICE}', user '{account_id}'). Restore that "
                "entry from a backup of your keyring; without it the store cannot be "
                f"opened, so otherwise remove the account and add it again. {untouched}"
            )
        key = decode_key(value)
        if key is None:
            raise KeyCustodyError(
                f"{where}: the keyring entry (service '{SERVICE}', user '{account_id}') "
                f"does not hold a peerwave-tui key (key mode: keyring); it was changed. "
                f"Restore the original entry, or remove the account and add it again. "
                f"{untouched}"
            )
        return key

    # --- passphrase ---------------------------------------------------------------------

    async def _master_for_new_stores(self, missing: Exception | None = None) -> bytes:
        """The master key for new stores (creating the salt file the first time).

        ``missing`` is raised when no passphrase can be had.
        """
        missing = missing or _no_passphrase_for(None)
        params = await asyncio.to_thread(self._read_salt_file)
        if params is None:
            async with self._get_lock():
                params = await asyncio.to_thread(self._read_salt_file)
                if params is None:
                    return await self._first_master_key(missing)
        master = await self._master_key(params, new=False, missing=missing)
        self._new_store_params = params
        return master

    async def _first_master_key(self, missing: Exception) -> bytes:
        """No salt file yet: ask for a new passphrase, derive, create the salt file."""
        fresh = kdf.default_params()
        master = await self._run_kdf(await self._ask(new=True, missing=missing), fresh)
        params = fresh.with_verifier(master)
        created = await asyncio.to_thread(
            write_private_file_exclusive, self._paths.kdf_salt_file, kdf.salt_file_bytes(params)
        )
        if not created:
            # Another process created the salt file meanwhile: theirs counts.
            theirs = await asyncio.to_thread(self._read_salt_file)
            if theirs is None:
                raise KeyCustodyError("The passphrase salt file vanished; try again.")
            master = await self._run_kdf(await self._ask(new=False, missing=missing), theirs)
            if not kdf.verifier_matches(master, theirs):
                raise _wrong_passphrase()
            params = theirs
        self._masters[params.cost_key] = master
        self._new_store_params = params
        return master

    async def _master_key(self, params: KdfParams, *, new: bool, missing: Exception) -> bytes:
        """The master key for ``params``: cached, or one KDF run (serialized)."""
        async with self._get_lock():
            master = self._masters.get(params.cost_key)
            if master is None:
                if params.cost_key in self._refused:
                    raise _wrong_passphrase()  # no second KDF for a known-wrong passphrase
                master = await self._run_kdf(await self._ask(new=new, missing=missing), params)
            if not kdf.verifier_matches(master, params):
                self._refused.add(params.cost_key)
                raise _wrong_passphrase()
            self._masters[params.cost_key] = master
            return master

    async def _ask(self, *, new: bool, missing: Exception) -> str:
        source = self._source
        passphrase = await run_in_daemon_thread(lambda: source(new=new))
        if passphrase is None:
            raise missing
        return passphrase

    async def _run_kdf(self, passphrase: str, params: KdfParams) -> bytes:
        started = time.perf_counter()
        master = await asyncio.to_thread(kdf.derive_master_key, passphrase, params)
        elapsed = time.perf_counter() - started
        self.kdf_runs.append(KdfRun(params.algorithm, elapsed))
        log.info("passphrase KDF (%s) took %.3f s", params.algorithm, elapsed)
        return master

    def _read_salt_file(self) -> KdfParams | None:
        return kdf.read_salt_file(self._paths.kdf_salt_file)

    # --- misc ---------------------------------------------------------------------------

    def _get_lock(self) -> asyncio.Lock:
        # Created on first use, inside the running loop.
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _store_dir(self, account_id: str) -> Path:
        parts = account_id.split("/")
        if len(parts) != 2 or any(p in ("", ".", "..") or "\\" in p for p in parts):
            raise ValueError(f"not an account id: {account_id!r}")
        return self._paths.store_dir(parts[0], parts[1])


def _no_passphrase_for(server_url: str | None) -> KeyCustodyError:
    if server_url is not None:
        return KeyCustodyError(
            f"The store for {server_url} is protected by a passphrase (key mode: "
            f"passphrase). Supply it with {PASSPHRASE_ENV} or --passphrase-file, or run on "
            "a terminal to be asked. The store's files were not changed."
        )
    return KeyCustodyError(
        f"Passphrase mode needs a passphrase: set {PASSPHRASE_ENV}, use --passphrase-file, "
        "or run on a terminal to be asked. Nothing was created."
    )


def _wrong_passphrase() -> WrongPassphraseError:
    return WrongPassphraseError(
        "The passphrase is wrong (key mode: passphrase): it does not match the one that "
        "protects this profile's stores. Try again with the right passphrase "
        f"({PASSPHRASE_ENV}, --passphrase-file or the prompt). No file was changed."
    )


class _NoPassphrase(Exception):
    """The prompt was left empty while choosing a mode (falls through to the refusal)."""

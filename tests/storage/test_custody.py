"""Key custody without a Secret Service: passphrase and memory modes, refusals."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from keyring.backends import fail, null

from peerwave_tui.errors import (
    KeyCustodyError,
    NoSecureKeyringError,
    StoreWrongKeyError,
    WrongPassphraseError,
)
from peerwave_tui.models import KeyMode
from peerwave_tui.paths import Paths
from peerwave_tui.storage import kdf
from peerwave_tui.storage.custody import KeyCustody, PassphraseSource, passphrase_source_from
from peerwave_tui.storage.device_store import DeviceStore

from .helpers import SERVER, file_hashes, fill

SERVER_KEY = "example-0123456789"


def _account(n: int) -> str:
    return f"{SERVER_KEY}/client-{n}"


async def _create(custody: KeyCustody, paths: Paths, n: int, mode: KeyMode) -> DeviceStore:
    key = await custody.new_store_key(_account(n), mode)
    store = await DeviceStore.open(
        paths.store_dir(SERVER_KEY, f"client-{n}"),
        key,
        server_url=SERVER,
        key_mode=mode,
        keyring_backend=custody.backend_name(),
        create=True,
        kdf=custody.kdf_params_for_new_stores() if mode is KeyMode.PASSPHRASE else None,
    )
    await store.run(fill)
    return store


async def _open(custody: KeyCustody, paths: Paths, n: int) -> DeviceStore:
    directory = paths.store_dir(SERVER_KEY, f"client-{n}")
    info = DeviceStore.read_store_info(directory)
    key = await custody.existing_store_key(_account(n), info)
    return await DeviceStore.open(
        directory,
        key,
        server_url=SERVER,
        key_mode=info.key_mode,
        keyring_backend=info.keyring_backend,
        create=False,
    )


def _passphrase_custody(paths: Paths, passphrase: str, mode: str | None = None) -> KeyCustody:
    return KeyCustody(
        paths, mode, PassphraseSource.fixed(passphrase), keyring_backend=fail.Keyring()
    )


# --- passphrase mode --------------------------------------------------------------


async def test_one_kdf_per_process_unlocks_every_store(paths: Paths) -> None:
    custody = _passphrase_custody(paths, "correct horse battery")
    assert await custody.settle_for_new_store() is KeyMode.PASSPHRASE
    stores = [await _create(custody, paths, n, KeyMode.PASSPHRASE) for n in range(3)]
    for store in stores:
        assert await store.run(lambda c: c.execute("SELECT count(*) FROM kv").fetchone()[0]) == 300
    for store in stores:
        await store.aclose()
    assert len(custody.kdf_runs) == 1
    assert custody.kdf_runs[0].algorithm == kdf.ARGON2ID and custody.kdf_runs[0].seconds > 0
    salt_before = paths.kdf_salt_file.read_bytes()

    # A new process (a new custody object): again one KDF for all three, even when
    # they are unlocked concurrently.
    later = _passphrase_custody(paths, "correct horse battery")
    infos = [DeviceStore.read_store_info(s.directory) for s in stores]
    await asyncio.gather(*(later.existing_store_key(_account(n), infos[n]) for n in range(3)))
    for n in range(3):
        store = await _open(later, paths, n)
        assert store.info.key_mode is KeyMode.PASSPHRASE
        await store.aclose()
    assert len(later.kdf_runs) == 1
    assert paths.kdf_salt_file.read_bytes() == salt_before

    derived = {await later.existing_store_key(_account(n), stores[n].info) for n in range(3)}
    assert len(derived) == 3  # every store has its own key


async def test_wrong_passphrase_is_refused_and_changes_nothing(paths: Paths) -> None:
    custody = _passphrase_custody(paths, "right one")
    await custody.settle_for_new_store()
    for n in range(2):
        await (await _create(custody, paths, n, KeyMode.PASSPHRASE)).aclose()
    before = file_hashes(paths.data_dir)

    wrong = _passphrase_custody(paths, "wrong one")
    info = DeviceStore.read_store_info(paths.store_dir(SERVER_KEY, "client-0"))
    with pytest.raises(WrongPassphraseError) as refused:
        await wrong.existing_store_key(_account(0), info)
    assert isinstance(refused.value, StoreWrongKeyError)
    assert isinstance(refused.value, KeyCustodyError)
    assert "key mode: passphrase" in str(refused.value)
    with pytest.raises(WrongPassphraseError):  # remembered: no second KDF
        await wrong.existing_store_key(_account(1), info)
    assert len(wrong.kdf_runs) == 1
    with pytest.raises(WrongPassphraseError):  # nor a new store under another passphrase
        await wrong.new_store_key(_account(7), KeyMode.PASSPHRASE)
    assert file_hashes(paths.data_dir) == before

    wrong.provide_passphrase("right one")  # the UI's unlock dialog
    store = await _open(wrong, paths, 0)
    await store.aclose()


async def test_wrong_key_without_a_verifier_is_caught_by_the_store(paths: Paths) -> None:
    """Even with the verifier gone, the store's own check value names passphrase mode."""
    custody = _passphrase_custody(paths, "right one")
    await custody.settle_for_new_store()
    await (await _create(custody, paths, 0, KeyMode.PASSPHRASE)).aclose()
    directory = paths.store_dir(SERVER_KEY, "client-0")
    info = DeviceStore.read_store_info(directory)
    assert info.kdf is not None
    unverified = info.updated(kdf=dataclasses.replace(info.kdf, verifier=None))
    wrong = _passphrase_custody(paths, "wrong one")
    key = await wrong.existing_store_key(_account(0), unverified)
    before = file_hashes(directory, skip=("store.lock",))
    with pytest.raises(StoreWrongKeyError, match="passphrase does not open it"):
        await DeviceStore.open(
            directory,
            key,
            server_url=SERVER,
            key_mode=KeyMode.PASSPHRASE,
            keyring_backend=None,
            create=False,
        )
    assert file_hashes(directory, skip=("store.lock",)) == before


async def test_store_keeps_its_own_salt(paths: Paths) -> None:
    custody = _passphrase_custody(paths, "pw")
    await custody.settle_for_new_store()
    await (await _create(custody, paths, 0, KeyMode.PASSPHRASE)).aclose()
    paths.kdf_salt_file.unlink()
    store = await _open(_passphrase_custody(paths, "pw"), paths, 0)
    await store.aclose()


async def test_passphrase_mode_without_a_passphrase_creates_nothing(paths: Paths) -> None:
    custody = KeyCustody(paths, "passphrase", None, keyring_backend=fail.Keyring())
    with pytest.raises(KeyCustodyError) as refused:
        await custody.settle_for_new_store()
    assert "PEERWAVE_TUI_PASSPHRASE" in str(refused.value)
    assert "--passphrase-file" in str(refused.value)
    assert not paths.home.exists()  # type: ignore[union-attr]


async def test_locked_store_names_passphrase_mode(paths: Paths) -> None:
    custody = _passphrase_custody(paths, "pw")
    await custody.settle_for_new_store()
    await (await _create(custody, paths, 0, KeyMode.PASSPHRASE)).aclose()
    no_passphrase = KeyCustody(paths, None, None, keyring_backend=fail.Keyring())
    info = DeviceStore.read_store_info(paths.store_dir(SERVER_KEY, "client-0"))
    with pytest.raises(KeyCustodyError, match=r"key mode: passphrase"):
        await no_passphrase.existing_store_key(_account(0), info)


# --- choosing the mode --------------------------------------------------------------


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()], ids=["fail", "null"])
@pytest.mark.parametrize("requested", [None, "keyring"])
async def test_no_secure_keyring_and_no_passphrase_stops(
    paths: Paths, backend: object, requested: str | None
) -> None:
    custody = KeyCustody(paths, requested, None, keyring_backend=backend)
    with pytest.raises(NoSecureKeyringError) as refused:
        await custody.settle_for_new_store()
    message = str(refused.value)
    for way_out in ("--key-mode passphrase", "PEERWAVE_TUI_PASSPHRASE", "--passphrase-file"):
        assert way_out in message
    assert "Secret Service" in message and "nothing was created" in message
    with pytest.raises(NoSecureKeyringError):
        await custody.new_store_key(_account(0), KeyMode.KEYRING)
    assert custody.backend_name() is None
    assert not paths.home.exists()  # type: ignore[union-attr]


async def test_a_supplied_passphrase_chooses_passphrase_mode(paths: Paths, tmp_path: Path) -> None:
    env_source = passphrase_source_from({"PEERWAVE_TUI_PASSPHRASE": "from env"}, None, False)
    custody = KeyCustody(paths, None, env_source, keyring_backend=null.Keyring())
    assert await custody.settle_for_new_store() is KeyMode.PASSPHRASE
    assert paths.kdf_salt_file.exists()


async def test_the_prompt_is_the_way_out_on_a_terminal(paths: Paths) -> None:
    asked: list[bool] = []

    def prompt(new: bool) -> str | None:
        asked.append(new)
        return "typed" if len(asked) == 1 else None

    custody = KeyCustody(
        paths, None, PassphraseSource(prompt=prompt), keyring_backend=fail.Keyring()
    )
    assert await custody.settle_for_new_store() is KeyMode.PASSPHRASE
    assert asked == [True]  # a new passphrase: the prompt asks twice itself

    # an empty answer on a fresh profile: refused, nothing created
    other_paths = Paths.from_home(paths.home.parent / "other")  # type: ignore[union-attr]
    refusing = KeyCustody(
        other_paths, None, PassphraseSource(prompt=lambda new: None), keyring_backend=fail.Keyring()
    )
    with pytest.raises(NoSecureKeyringError):
        await refusing.settle_for_new_store()
    assert not other_paths.data_dir.exists()


# --- memory mode (the demo) -----------------------------------------------------------


async def test_memory_mode_needs_no_keyring(paths: Paths) -> None:
    custody = KeyCustody(paths, KeyMode.MEMORY, None, keyring_backend=fail.Keyring())
    assert await custody.settle_for_new_store() is KeyMode.MEMORY
    store = await _create(custody, paths, 0, KeyMode.MEMORY)
    await store.aclose()
    assert store.info.key_mode is KeyMode.MEMORY and store.info.keyring_backend is None
    store = await _open(custody, paths, 0)  # same process: the key is still here
    await store.aclose()

    with pytest.raises(KeyCustodyError, match="key mode: memory"):
        await _open(KeyCustody(paths, None, None, keyring_backend=fail.Keyring()), paths, 0)
    await custody.forget_key(_account(0), KeyMode.MEMORY)
    with pytest.raises(KeyCustodyError):
        await _open(custody, paths, 0)
    assert not paths.kdf_salt_file.exists()


async def test_a_key_is_never_made_over_existing_data(paths: Paths) -> None:
    custody = KeyCustody(paths, KeyMode.MEMORY, None)
    await (await _create(custody, paths, 0, KeyMode.MEMORY)).aclose()
    for mode in KeyMode:
        with pytest.raises(Exception, match="never generated over existing data"):
            await custody.new_store_key(_account(0), mode)


@pytest.mark.parametrize("bad", ["", "one-part", "a/b/c", "../x", "a/..", "a\\b/c"])
async def test_account_ids_are_checked(paths: Paths, bad: str) -> None:
    custody = KeyCustody(paths, KeyMode.MEMORY, None)
    with pytest.raises(ValueError):
        await custody.new_store_key(bad, KeyMode.MEMORY)


# --- passphrase sources ---------------------------------------------------------------


def test_passphrase_sources(tmp_path: Path) -> None:
    file = tmp_path / "pass.txt"
    file.write_text("from file\n")
    env = {"PEERWAVE_TUI_PASSPHRASE": "from env"}

    from_file = passphrase_source_from(env, file, interactive=False)
    assert from_file.supplied and from_file() == "from file"  # the file wins
    from_env = passphrase_source_from(env, None, interactive=True)
    assert from_env.supplied and from_env() == "from env"
    nothing = passphrase_source_from({"PEERWAVE_TUI_PASSPHRASE": ""}, None, interactive=False)
    assert not nothing.supplied and not nothing.can_prompt and nothing() is None
    terminal = passphrase_source_from({}, None, interactive=True)
    assert not terminal.supplied and terminal.can_prompt

    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(b"line one\r\n")
    assert passphrase_source_from({}, crlf, False)() == "line one"
    with pytest.raises(KeyCustodyError, match="Cannot read the passphrase file"):
        passphrase_source_from({}, tmp_path / "missing", False)()
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(KeyCustodyError, match="empty"):
        passphrase_source_from({}, tmp_path / "empty", False)()
    with pytest.raises(KeyCustodyError, match="empty"):
        PassphraseSource(prompt=lambda new: "")()


# --- the KDF itself --------------------------------------------------------------------


def test_scrypt_fallback_and_parameter_bounds() -> None:
    params = kdf.KdfParams(kdf.SCRYPT, b"s" * 16, log2_n=14, r=8, p=1)
    master = kdf.derive_master_key("pw", params)
    assert master == kdf.derive_master_key("pw", kdf.KdfParams.from_json(params.to_json()))
    assert master != kdf.derive_master_key("pw2", params)
    assert kdf.derive_store_key(master, "a/b") != kdf.derive_store_key(master, "a/c")

    checked = params.with_verifier(master)
    assert kdf.verifier_matches(master, checked)
    assert not kdf.verifier_matches(kdf.derive_master_key("pw2", params), checked)

    hostile = kdf.default_params().to_json() | {"memory_kib": 1 << 40}
    with pytest.raises(ValueError):
        kdf.KdfParams.from_json(hostile)
    with pytest.raises(ValueError):
        kdf.KdfParams.from_json(params.to_json() | {"log2_n": 20, "r": 32})
    with pytest.raises(ValueError):
        kdf.KdfParams.from_json(params.to_json() | {"salt": "00"})

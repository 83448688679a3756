"""Keyring mode against a real Secret Service (gnome-keyring under dbus-run-session)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest

from peerwave_tui.errors import KeyCustodyError, StoreWrongKeyError
from peerwave_tui.models import KeyMode
from peerwave_tui.paths import Paths
from peerwave_tui.storage.custody import SERVICE, KeyCustody
from peerwave_tui.storage.device_store import DeviceStore

from .helpers import SERVER, file_hashes, fill, run_python

pytestmark = pytest.mark.keyring

SECRET_SERVICE = "keyring.backends.SecretService.Keyring"
SERVER_KEY = "example-0123456789"


def _secret_in_secret_service(account_id: str) -> bytes | None:
    """Read the entry straight from the Secret Service over D-Bus (not via keyring)."""
    import secretstorage

    connection = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(connection)
        items = list(collection.search_items({"service": SERVICE, "username": account_id}))
        return items[0].get_secret() if items else None
    finally:
        connection.close()


@pytest.fixture
def accounts(secret_service: Any) -> Iterator[list[str]]:
    """Fresh account ids; their keyring entries are removed afterwards."""
    ids = [f"{SERVER_KEY}/{uuid.uuid4()}" for _ in range(2)]
    yield ids
    for account in ids:
        if secret_service.get_password(SERVICE, account) is not None:
            secret_service.delete_password(SERVICE, account)


def _dir(paths: Paths, account: str) -> Path:
    server, client = account.split("/")
    return paths.store_dir(server, client)


async def _create(custody: KeyCustody, paths: Paths, account: str) -> DeviceStore:
    assert await custody.settle_for_new_store() is KeyMode.KEYRING
    key = await custody.new_store_key(account, KeyMode.KEYRING)
    store = await DeviceStore.open(
        _dir(paths, account),
        key,
        server_url=SERVER,
        key_mode=KeyMode.KEYRING,
        keyring_backend=custody.backend_name(),
        create=True,
    )
    await store.run(fill)
    return store


async def _open(custody: KeyCustody, paths: Paths, account: str) -> DeviceStore:
    info = DeviceStore.read_store_info(_dir(paths, account))
    key = await custody.existing_store_key(account, info)
    return await DeviceStore.open(
        _dir(paths, account),
        key,
        server_url=SERVER,
        key_mode=info.key_mode,
        keyring_backend=info.keyring_backend,
        create=False,
    )


async def test_key_lands_in_the_secret_service_and_is_read_back(
    paths: Paths, accounts: list[str]
) -> None:
    # No override: the custody finds the Secret Service the way the app does.
    assert type(keyring.get_keyring()).__module__ == "keyring.backends.SecretService"
    custody = KeyCustody(paths)
    store = await _create(custody, paths, accounts[0])
    await store.aclose()
    assert custody.backend_name() == SECRET_SERVICE
    assert store.info.keyring_backend == SECRET_SERVICE

    stored = _secret_in_secret_service(accounts[0])
    assert stored is not None and len(bytes.fromhex(stored.decode())) == 32
    raw_key = bytes.fromhex(stored.decode())
    for path in paths.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert stored not in content and raw_key not in content, f"key leaked into {path}"

    later = KeyCustody(paths)  # another process
    info = DeviceStore.read_store_info(_dir(paths, accounts[0]))
    assert (await later.existing_store_key(accounts[0], info)).hex() == stored.decode()
    store = await _open(later, paths, accounts[0])
    assert await store.run(lambda c: c.execute("SELECT count(*) FROM kv").fetchone()[0]) == 300
    await store.aclose()

    await later.forget_key(accounts[0], KeyMode.KEYRING)
    assert _secret_in_secret_service(accounts[0]) is None
    await later.forget_key(accounts[0], KeyMode.KEYRING)  # already gone: fine


async def test_an_existing_entry_is_never_overwritten(
    paths: Paths, accounts: list[str], secret_service: Any
) -> None:
    custody = KeyCustody(paths, keyring_backend=secret_service)
    await custody.new_store_key(accounts[0], KeyMode.KEYRING)
    first = _secret_in_secret_service(accounts[0])
    with pytest.raises(KeyCustodyError, match="never replaced"):
        await custody.new_store_key(accounts[0], KeyMode.KEYRING)
    assert _secret_in_secret_service(accounts[0]) == first


async def test_a_lost_entry_stops_that_store_only(
    paths: Paths, accounts: list[str], secret_service: Any
) -> None:
    custody = KeyCustody(paths, keyring_backend=secret_service)
    for account in accounts:
        await (await _create(custody, paths, account)).aclose()
    lost = _dir(paths, accounts[0])
    before = file_hashes(lost)
    secret_service.delete_password(SERVICE, accounts[0])

    later = KeyCustody(paths, keyring_backend=secret_service)
    with pytest.raises(KeyCustodyError) as refused:
        await _open(later, paths, accounts[0])
    message = str(refused.value)
    assert "missing from the OS keyring" in message and "key mode: keyring" in message
    assert "remove the account" in message
    assert file_hashes(lost) == before

    other = await _open(later, paths, accounts[1])  # the other server keeps working
    assert await other.run(lambda c: c.execute("SELECT count(*) FROM kv").fetchone()[0]) == 300
    await other.aclose()


async def test_a_replaced_entry_is_a_wrong_key(
    paths: Paths, accounts: list[str], secret_service: Any
) -> None:
    custody = KeyCustody(paths, keyring_backend=secret_service)
    await (await _create(custody, paths, accounts[0])).aclose()
    before = file_hashes(_dir(paths, accounts[0]), skip=("store.lock",))
    secret_service.delete_password(SERVICE, accounts[0])
    secret_service.set_password(SERVICE, accounts[0], bytes(32).hex())
    with pytest.raises(StoreWrongKeyError, match="key in the OS keyring does not open it"):
        await _open(KeyCustody(paths, keyring_backend=secret_service), paths, accounts[0])
    assert file_hashes(_dir(paths, accounts[0]), skip=("store.lock",)) == before

    secret_service.delete_password(SERVICE, accounts[0])
    secret_service.set_password(SERVICE, accounts[0], "not a key")
    with pytest.raises(KeyCustodyError, match="does not hold a peerwave-tui key"):
        await _open(KeyCustody(paths, keyring_backend=secret_service), paths, accounts[0])


async def test_a_changed_backend_is_named(
    paths: Paths, accounts: list[str], secret_service: Any
) -> None:
    # A store whose key was kept by KWallet, opened where the Secret Service is in use.
    directory = _dir(paths, accounts[0])
    store = await DeviceStore.open(
        directory,
        bytes(range(32)),
        server_url=SERVER,
        key_mode=KeyMode.KEYRING,
        keyring_backend="keyring.backends.kwallet.DBusKeyring",
        create=True,
    )
    await store.aclose()
    custody = KeyCustody(paths, keyring_backend=secret_service)
    with pytest.raises(KeyCustodyError) as refused:
        await _open(custody, paths, accounts[0])
    message = str(refused.value)
    assert "keyring.backends.kwallet.DBusKeyring" in message and SECRET_SERVICE in message
    assert "key mode: keyring" in message


CHAINER_OVER_PLAINTEXT = """
import asyncio, json, uuid
from pathlib import Path
from peerwave_tui.errors import NoSecureKeyringError
from peerwave_tui.models import KeyMode
from peerwave_tui.paths import Paths
from peerwave_tui.storage.custody import KeyCustody

async def main():
    import keyring
    paths = Paths.from_home(Path(HOME))
    custody = KeyCustody(paths)
    try:
        mode = await custody.settle_for_new_store()
        account = "example-0123456789/" + str(uuid.uuid4())
        await custody.new_store_key(account, mode)
    except NoSecureKeyringError as exc:
        result = {"refused": str(exc)}
    else:
        result = {"mode": mode.value, "backend": custody.backend_name(), "account": account}
    result["default"] = type(keyring.get_keyring()).__name__
    print(json.dumps(result))

asyncio.run(main())
"""


async def test_a_chainer_with_a_plaintext_member_uses_only_the_secret_service(
    tmp_path: Path, keyrings_alt_dir: Path, secret_service: Any
) -> None:
    """keyrings.alt installed next to a Secret Service: keyring's default is then a
    chainer over both; the key goes to the Secret Service, never to the plaintext file."""
    home = tmp_path / "home"
    env = {
        "PYTHONPATH": str(keyrings_alt_dir),
        "HOME": str(tmp_path / "user"),
        "XDG_DATA_HOME": str(tmp_path / "user" / "share"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.chainer.ChainerBackend",
    }
    result, _ = run_python(f"HOME = {str(home)!r}\n" + CHAINER_OVER_PLAINTEXT, env=env)
    assert result["default"] == "ChainerBackend"
    assert result["mode"] == "keyring" and result["backend"] == SECRET_SERVICE
    try:
        assert _secret_in_secret_service(result["account"]) is not None
        assert not list((tmp_path / "user").rglob("*.cfg"))  # no plaintext keyring file
    finally:
        secret_service.delete_password(SERVICE, result["account"])

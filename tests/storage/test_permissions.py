"""Whatever the umask: every directory we create is 0700 and every file 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from peerwave_tui.models import KeyMode
from peerwave_tui.paths import Paths
from peerwave_tui.storage.custody import KeyCustody, PassphraseSource
from peerwave_tui.storage.device_store import DeviceStore

from .helpers import SERVER, fill


@pytest.fixture(params=[0o022, 0o000, 0o277], ids=["umask022", "umask000", "umask277"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    # The umask is process-wide; tests run one at a time, and it is restored after.
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    found = {str(root): stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _assert_private(root: Path) -> None:
    for name, mode in _modes(root).items():
        path = root / name if name != str(root) else root
        expected = 0o700 if path.is_dir() else 0o600
        assert mode == expected, f"{name}: {oct(mode)}, expected {oct(expected)}"


async def test_everything_created_is_owner_only(umask: int, hermetic_home: Path) -> None:
    assert not hermetic_home.exists()
    paths = Paths.from_home(hermetic_home)
    paths.ensure()
    custody = KeyCustody(paths, "passphrase", PassphraseSource.fixed("correct horse"))
    mode = await custody.settle_for_new_store()
    stores = []
    for client, key_mode in (("client-a", mode), ("client-b", KeyMode.MEMORY)):
        account = f"example-0123456789/{client}"
        key = await custody.new_store_key(account, key_mode)
        store = await DeviceStore.open(
            paths.store_dir("example-0123456789", client),
            key,
            server_url=SERVER,
            key_mode=key_mode,
            keyring_backend=None,
            create=True,
            kdf=custody.kdf_params_for_new_stores() if key_mode is KeyMode.PASSPHRASE else None,
        )
        await store.run(fill)
        stores.append(store)

    first = stores[0].directory
    # While open, the WAL and shared-memory files exist and are private too.
    assert (first / "store.db-wal").exists() and (first / "store.db-shm").exists()
    _assert_private(hermetic_home)
    for store in stores:
        await store.aclose()

    # Reopening (with a migration of store.json) and deleting keep it so.
    info = DeviceStore.read_store_info(first)
    key = await custody.existing_store_key("example-0123456789/client-a", info)
    store = await DeviceStore.open(
        first, key, server_url=SERVER, key_mode=info.key_mode, keyring_backend=None, create=False
    )
    await store.aclose()
    await DeviceStore.delete(stores[1].directory)
    _assert_private(hermetic_home)

    created = set(_modes(hermetic_home))
    expected_files = {
        "data/passphrase.salt",
        "data/servers/example-0123456789/client-a/store.db",
        "data/servers/example-0123456789/client-a/store.json",
        "data/servers/example-0123456789/client-a/store.lock",
    }
    assert expected_files <= created

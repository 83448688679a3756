"""A fresh account's keys, and the passphrase KDF.

``fresh_account_keys``: ``KeyManager.ensure_identity()`` (identity key pair,
registration id, signed prekey, 100 one-time prekeys, stored in one transaction) in a
new keyring-mode store, timed around the store-thread call as the client makes it.
Each sample is a new store. Baseline: python-axolotl's ``KeyHelper`` making the same
keys in memory, with nothing stored.

``passphrase_kdf``: one run of the memory-hard KDF with the default parameters
(passphrase mode runs it once per process, whatever the number of servers). The
stores here use keyring mode, so it is reported as its own figure, with no target.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from benchmarks.records import Figure
from peerwave_tui.models import KeyMode
from peerwave_tui.paths import Paths, server_key
from peerwave_tui.signal import KeyManager
from peerwave_tui.storage import kdf
from peerwave_tui.storage.custody import KeyCustody
from peerwave_tui.storage.device_store import DeviceStore

SERVER_URL = "http://127.0.0.1:9"  # never contacted: key generation is local
PREKEYS = 100


async def fresh_keys_ms(home: Path) -> float:
    """One sample: a new keyring-mode store, then its keys."""
    paths = Paths.from_home(home).ensure()
    custody = KeyCustody(paths, KeyMode.KEYRING)
    client_id = str(uuid.uuid4())
    key_of_server = server_key(SERVER_URL)
    account_id = f"{key_of_server}/{client_id}"
    key = await custody.new_store_key(account_id, KeyMode.KEYRING)
    store = await DeviceStore.open(
        paths.store_dir(key_of_server, client_id),
        key,
        server_url=SERVER_URL,
        key_mode=KeyMode.KEYRING,
        keyring_backend=custody.backend_name(),
        create=True,
    )
    try:
        start = time.perf_counter()
        made = await store.run(lambda conn: KeyManager(conn).ensure_identity())
        elapsed = (time.perf_counter() - start) * 1000
    finally:
        await store.aclose()
    if not made:
        raise RuntimeError("a fresh store already had keys")
    return elapsed


def bare_keys_ms() -> float:
    """python-axolotl's KeyHelper: the same keys, in memory only."""
    from axolotl.util.keyhelper import KeyHelper

    start = time.perf_counter()
    identity = KeyHelper.generateIdentityKeyPair()
    KeyHelper.generateRegistrationId()
    KeyHelper.generateSignedPreKey(identity, 1)
    KeyHelper.generatePreKeys(1, PREKEYS)
    return (time.perf_counter() - start) * 1000


def kdf_seconds() -> tuple[float, str]:
    params = kdf.default_params()
    start = time.perf_counter()
    kdf.derive_master_key("benchmark passphrase", params)
    return time.perf_counter() - start, params.algorithm


async def run(work: Path, key_samples: int, kdf_samples: int) -> list[Figure]:
    fresh = [await fresh_keys_ms(work / "home") for _ in range(key_samples)]
    bare = [bare_keys_ms() for _ in range(key_samples)]
    kdf_runs = [kdf_seconds() for _ in range(kdf_samples)]
    return [
        Figure(
            "fresh_account_keys",
            "ms",
            fresh,
            bare,
            "<= 50",
            note="identity, signed prekey, 100 one-time prekeys, stored (keyring-mode store); "
            "baseline: python-axolotl KeyHelper in memory",
        ),
        Figure(
            "passphrase_kdf",
            "s",
            [seconds for seconds, _ in kdf_runs],
            note="one run per process in passphrase mode; not used by keyring-mode stores",
            extra={"algorithm": kdf_runs[0][1] if kdf_runs else None},
        ),
    ]

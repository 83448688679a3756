"""Two passphrase derivations at once in one process finish (the library alone
deadlocks: cryptography 50's Argon2id is not safe to run in two threads at once)."""

from __future__ import annotations

import threading

from peerwave_tui.storage.kdf import default_params, derive_master_key


def test_two_concurrent_derivations_finish() -> None:
    params = default_params()
    results: list[bytes] = []

    def run() -> None:
        results.append(derive_master_key("correct horse", params))

    threads = [threading.Thread(target=run, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2, "a derivation never returned"
    assert results[0] == results[1] and len(results[0]) == 32

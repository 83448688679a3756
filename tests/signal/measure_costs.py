"""Measure what the Signal layer costs (not a test: no speed targets in tests).

    .venv/bin/python -m tests.signal.measure_costs [--runs 7] [--pairs 500] [--dir DIR]

Prints medians over several runs of:
- a fresh account's keys (identity, signed prekey, 100 one-time prekeys), persisted;
- one persisted 1 KB encrypt + decrypt pair through the SQLCipher-backed stores, each
  operation its own transaction (commit and fsync every time), and a page of
  operations in one transaction (as the receive pipeline does);
- persisted decrypts alone, in a page transaction;
- python-axolotl with its own in-memory stores, same 1 KB messages, for comparison:
  bare (its original functions) and with our hardening patches.

Stores are opened as the device store does: SQLCipher raw key, WAL, synchronous=FULL.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from peerwave_tui.signal import KeyManager, hardening
from peerwave_tui.storage.tx import transaction
from tests.signal.support import Account, Clock, KeyDirectory, open_conn

PLAINTEXT = os.urandom(1024)


def _store(path: Path, key_hex: str) -> Any:
    conn = open_conn(path, key_hex)
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def fresh_account_ms(base: Path, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        account = Account(base, f"fresh{i}", "me", 1, Clock())
        conn = _store(account.path, account.key_hex)
        keys = KeyManager(conn)
        start = time.perf_counter()
        keys.ensure_identity()
        times.append((time.perf_counter() - start) * 1000)
        conn.close()
    return times


def _pair(base: Path) -> tuple[Any, Any]:
    clock, directory = Clock(), KeyDirectory()
    alice = Account(base, f"alice{time.perf_counter_ns()}", "alice", 1, clock)
    bob = Account(base, f"bob{time.perf_counter_ns()}", "bob", 1, clock)
    alice.setup(directory)
    bob.setup(directory)
    alice.connect_to(directory, "bob")
    assert bob.receive(alice, alice.send(bob, b"hi")) == b"hi"
    assert alice.receive(bob, bob.send(alice, b"hi")) == b"hi"  # both past PreKey messages
    a = KeyManager(_store(alice.path, alice.key_hex))
    b = KeyManager(_store(bob.path, bob.key_hex))
    return a, b


def persisted_pair_us(a: KeyManager, b: KeyManager, pairs: int, page: int) -> float:
    """Microseconds per encrypt+decrypt pair; ``page`` operations per transaction
    (1: every operation commits on its own)."""
    start = time.perf_counter()
    done = 0
    while done < pairs:
        n = min(page, pairs - done)
        if page == 1:
            message = a.encrypt("bob", 1, PLAINTEXT)
            b.decrypt("alice", 1, *message)
        else:
            with transaction(a._conn):
                messages = [a.encrypt("bob", 1, PLAINTEXT) for _ in range(n)]
            with transaction(b._conn):
                for message in messages:
                    b.decrypt("alice", 1, *message)
        done += n
    return (time.perf_counter() - start) / pairs * 1e6


def persisted_decrypt_us(a: KeyManager, b: KeyManager, count: int, page: int) -> float:
    with transaction(a._conn):
        messages = [a.encrypt("bob", 1, PLAINTEXT) for _ in range(count)]
    start = time.perf_counter()
    for i in range(0, count, page):
        with transaction(b._conn):
            for message in messages[i : i + page]:
                b.decrypt("alice", 1, *message)
    return (time.perf_counter() - start) / count * 1e6


def in_memory_setup() -> tuple[Any, Any]:
    from axolotl.ecc.curve import Curve
    from axolotl.protocol.prekeywhispermessage import PreKeyWhisperMessage
    from axolotl.protocol.whispermessage import WhisperMessage
    from axolotl.sessionbuilder import SessionBuilder
    from axolotl.sessioncipher import SessionCipher
    from axolotl.state.prekeybundle import PreKeyBundle
    from axolotl.state.prekeyrecord import PreKeyRecord
    from axolotl.state.signedprekeyrecord import SignedPreKeyRecord
    from axolotl.tests.inmemoryaxolotlstore import InMemoryAxolotlStore

    alice, bob = InMemoryAxolotlStore(), InMemoryAxolotlStore()
    prekey, signed = Curve.generateKeyPair(), Curve.generateKeyPair()
    signature = Curve.calculateSignature(
        bob.getIdentityKeyPair().getPrivateKey(), signed.getPublicKey().serialize()
    )
    bob.storePreKey(1, PreKeyRecord(1, prekey))
    bob.storeSignedPreKey(1, SignedPreKeyRecord(1, 0, signed, signature))
    bundle = PreKeyBundle(
        bob.getLocalRegistrationId(),
        1,
        1,
        prekey.getPublicKey(),
        1,
        signed.getPublicKey(),
        signature,
        bob.getIdentityKeyPair().getPublicKey(),
    )
    SessionBuilder(alice, alice, alice, alice, "bob", 1).processPreKeyBundle(bundle)
    a = SessionCipher(alice, alice, alice, alice, "bob", 1)
    b = SessionCipher(bob, bob, bob, bob, "alice", 1)
    b.decryptPkmsg(PreKeyWhisperMessage(serialized=a.encrypt(b"hi").serialize()))
    a.decryptMsg(WhisperMessage(serialized=b.encrypt(b"hi").serialize()))
    return a, b


def in_memory_us(a: Any, b: Any, count: int) -> tuple[float, float]:
    """(µs per encrypt+decrypt pair, µs per decrypt) with python-axolotl's own stores."""
    from axolotl.protocol.whispermessage import WhisperMessage

    start = time.perf_counter()
    messages = [a.encrypt(PLAINTEXT).serialize() for _ in range(count)]
    middle = time.perf_counter()
    for data in messages:
        b.decryptMsg(WhisperMessage(serialized=data))
    end = time.perf_counter()
    return (end - start) / count * 1e6, (end - middle) / count * 1e6


@contextmanager
def bare_library() -> Iterator[None]:
    """python-axolotl's own functions instead of our hardened ones, for a while."""
    patched = [(owner, name, owner.__dict__[name]) for owner, name, _ in hardening.bare_functions()]
    for owner, name, original in hardening.bare_functions():
        setattr(owner, name, original)
    try:
        yield
    finally:
        for owner, name, replacement in patched:
            setattr(owner, name, replacement)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _line(label: str, per_op_us: float) -> str:
    return f"  {label:<58} {per_op_us:9.1f} µs   {1e6 / per_op_us:9.0f} /s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None, help="where the store files go")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="signal-costs-", dir=args.dir))
    try:
        fresh = fresh_account_ms(base, args.runs)
        print(
            f"fresh account keys (identity, signed prekey, 100 prekeys; persisted), "
            f"median of {args.runs}: {_median(fresh):.1f} ms "
            f"(min {min(fresh):.1f}, max {max(fresh):.1f})"
        )

        a, b = _pair(base)
        mem_a, mem_b = in_memory_setup()
        results: dict[str, list[float]] = {}

        def record(label: str, measure: Callable[[], float]) -> None:
            results.setdefault(label, []).append(measure())

        for _ in range(args.runs):  # interleaved, so machine noise hits all alike
            record(
                "persisted pair, each op its own transaction",
                lambda: persisted_pair_us(a, b, args.pairs // 5, 1),
            )
            record(
                "persisted pair, 100 ops per transaction",
                lambda: persisted_pair_us(a, b, args.pairs, 100),
            )
            record(
                "persisted decrypt, 100 per transaction",
                lambda: persisted_decrypt_us(a, b, args.pairs, 100),
            )
            with bare_library():
                pair_us, decrypt_us = in_memory_us(mem_a, mem_b, args.pairs)
            results.setdefault("bare python-axolotl in memory: pair", []).append(pair_us)
            results.setdefault("bare python-axolotl in memory: decrypt", []).append(decrypt_us)
            pair_us, decrypt_us = in_memory_us(mem_a, mem_b, args.pairs)
            results.setdefault("hardened python-axolotl in memory: pair", []).append(pair_us)
            results.setdefault("hardened python-axolotl in memory: decrypt", []).append(decrypt_us)
        print(f"1 KB messages, median of {args.runs} runs (per operation, and operations/s):")
        for label, values in results.items():
            print(_line(label, _median(values)))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

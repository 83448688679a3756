"""Backlog drain: N pending 1 KB messages from one peer → decrypted, committed, deleted.

Set-up (once): a dev server process, the receiver (a SignalClientManager in keyring
mode, registered through the client's own flow) and a peer (``RawPeer``). The peer
sends one PreKey message, the receiver answers, the peer decrypts the answer: from
then on the peer's messages are ordinary SignalMessages (cipherType 2), as in a
conversation that was going on before the night offline.

Each repetition: the receiver is offline (its manager closed); the peer encrypts N
messages in its own store and sends them, and waits until the server has stored all
of them. Then a new manager for the receiver starts; the clock runs from the
receiver's CONNECTED event (the drain starts right after it) to the end of its first
pending drain (``BacklogProgress(done=True)``). Checked afterwards: N text messages
from the peer were committed (``MessageReceived``, which is emitted after the commit)
and the server holds nothing for the receiver any more.

Baseline, same run, same ciphertexts: python-axolotl's own functions (our hardening
patches taken off) with its in-memory stores, starting from a copy of the receiver's
session record as it was before the backlog.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.clients import EventTap, connected, drain_done, keyring_manager, register
from benchmarks.peer import RawPeer
from benchmarks.profiling import profiled
from benchmarks.progress import step
from benchmarks.records import Figure
from benchmarks.servers import DevServer
from peerwave_tui import events as ev
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import AccountRecord, MessageKind
from peerwave_tui.signal import KeyManager, hardening
from peerwave_tui.signal.addresses import address_name

DRAIN_TIMEOUT = 600.0
WHISPER_TYPE = 2


@dataclass
class DrainRun:
    seconds: float  # CONNECTED → drain done
    start_to_done: float  # manager.start() → drain done
    bare_seconds: float  # bare python-axolotl decrypt of the same ciphertexts
    count: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def bare_rate(self) -> float:
        return self.count / self.bare_seconds


def text_messages(count: int, size: int) -> list[bytes]:
    """``count`` distinct ASCII texts of ``size`` bytes (random, so nothing compresses)."""
    raw = (size * 3) // 4 + 3
    return [base64.b64encode(os.urandom(raw))[:size] for _ in range(count)]


@contextmanager
def bare_library() -> Iterator[None]:
    """python-axolotl's own functions instead of our hardened ones, for a while."""
    originals = hardening.bare_functions()
    replaced = [(owner, name, owner.__dict__[name]) for owner, name, _ in originals]
    for owner, name, original in originals:
        setattr(owner, name, original)
    try:
        yield
    finally:
        for owner, name, patched in replaced:
            setattr(owner, name, patched)


def bare_decrypt_seconds(
    session: bytes, name: str, device_id: int, payloads: list[str], expected: list[bytes]
) -> float:
    """Seconds for python-axolotl alone (in-memory stores) to decrypt ``payloads``."""
    from axolotl.protocol.whispermessage import WhisperMessage
    from axolotl.sessioncipher import SessionCipher
    from axolotl.state.sessionrecord import SessionRecord
    from axolotl.tests.inmemoryaxolotlstore import InMemoryAxolotlStore

    store = InMemoryAxolotlStore()
    store.storeSession(name, device_id, SessionRecord(serialized=session))
    cipher = SessionCipher(store, store, store, store, name, device_id)
    data = [base64.b64decode(p) for p in payloads]
    with bare_library():
        start = time.perf_counter()
        plaintexts = [cipher.decryptMsg(WhisperMessage(serialized=d)) for d in data]
        seconds = time.perf_counter() - start
    if plaintexts[0] != expected[0] or plaintexts[-1] != expected[-1]:
        raise RuntimeError("the bare decrypt did not give back the plaintexts")
    return seconds


def _from(peer: RawPeer) -> Callable[[ev.Event], bool]:
    return lambda e: isinstance(e, ev.MessageReceived) and e.message.sender_id == peer.user_id


async def confirm_session(
    manager: SignalClientManager, tap: EventTap, record: AccountRecord, peer: RawPeer
) -> int:
    """The peer's first message (a PreKey message) and the account's answer: from then
    on the peer sends ordinary SignalMessages. Returns the account's device id."""
    user_id = str(record.user_id)
    [device] = await peer.start_session(user_id)
    mark = tap.mark()
    await peer.send(user_id, device, await peer.encrypt(user_id, device, [b"hi"]))
    await tap.wait_for(_from(peer), 120, start=mark)
    await manager.send(record.account_id, peer.user_id, "hello")
    await peer.receive(120)
    return device


class DrainBench:
    """One receiver and one peer on one dev server; ``run_once`` is one repetition."""

    def __init__(self, work: Path, count: int, size: int) -> None:
        self.work = work
        self.count = count
        self.size = size
        self.server = DevServer(work / "server", name="drain")
        self.home = work / "home"
        self.peer = RawPeer(self.server, work / "peer", "Peer")
        self.record: AccountRecord | None = None
        self.receiver_device = 0
        self.session: bytes = b""

    async def setup(self) -> None:
        await self.server.start()
        await self.peer.create()
        manager = keyring_manager(self.home)
        tap = EventTap(manager)
        try:
            record = await register(manager, self.server, "Receiver")
            await tap.wait_for(connected(record.account_id), 120)
            self.record = record
            self.receiver_device = await confirm_session(manager, tap, record, self.peer)
            await self._keep_session(manager)
        finally:
            await tap.close()
            await manager.aclose()

    def _from_peer(self, event: ev.Event) -> bool:
        return _from(self.peer)(event)

    async def _keep_session(self, manager: SignalClientManager) -> None:
        """Copy the receiver's session with the peer (for the bare baseline)."""
        assert self.record is not None
        name = address_name(self.peer.user_id, self.peer.device_id)
        device = self.peer.device_id
        client = manager.client(self.record.account_id)
        self.session = await client.store.run(
            lambda conn: bytes(KeyManager(conn).sessions.loadSession(name, device).serialize())
        )

    async def run_once(self) -> DrainRun:
        record = self.record
        assert record is not None and record.user_id is not None
        user_id = record.user_id
        texts = text_messages(self.count, self.size)
        with step(f"drain: the peer encrypts {self.count}"):
            ciphertexts = await self.peer.encrypt(user_id, self.receiver_device, texts)
        if any(cipher_type != WHISPER_TYPE for cipher_type, _ in ciphertexts):
            raise RuntimeError("the peer's session is not confirmed (PreKey messages)")
        with step(f"drain: the peer sends {self.count}"):
            await self.peer.send(user_id, self.receiver_device, ciphertexts)
        stored = self.server.pending_count(user_id, self.receiver_device)
        if stored != self.count:
            raise RuntimeError(f"{stored} items pending on the server, expected {self.count}")
        bare = bare_decrypt_seconds(
            self.session,
            address_name(self.peer.user_id, self.peer.device_id),
            self.peer.device_id,
            [payload for _, payload in ciphertexts],
            texts,
        )
        manager = keyring_manager(self.home)
        tap = EventTap(manager)
        try:
            async with profiled("drain", {"server": self.server.pid}):
                started = time.perf_counter()
                await manager.start()
                connected_at = await tap.wait_for(connected(record.account_id), 120)
                mark = tap.mark()
                done_at = await tap.wait_for(drain_done(record.account_id), DRAIN_TIMEOUT)
            self._check(tap.events, mark, texts)
            left = self.server.pending_count(user_id, self.receiver_device)
            if left:
                raise RuntimeError(f"{left} items still on the server after the drain")
            await self._keep_session(manager)
        finally:
            await tap.close()
            await manager.aclose()
        return DrainRun(done_at - connected_at, done_at - started, bare, self.count)

    def _check(self, events: list[tuple[float, Any]], mark: int, texts: list[bytes]) -> None:
        received = [e.message for _, e in events[mark:] if self._from_peer(e)]
        if len(received) != self.count:
            raise RuntimeError(f"{len(received)} messages committed, expected {self.count}")
        if any(m.kind is not MessageKind.TEXT for m in received):
            raise RuntimeError("some messages were not decrypted")
        if received[0].text != texts[0].decode() or received[-1].text != texts[-1].decode():
            raise RuntimeError("the drained messages are not the ones sent, in order")

    async def close(self) -> None:
        await self.peer.close()
        await self.server.stop()


def figures(runs: list[DrainRun]) -> list[Figure]:
    rates = [r.rate for r in runs]
    bare = [r.bare_rate for r in runs]
    extra = {
        "count": runs[0].count if runs else None,
        "start_to_done_s": [round(r.start_to_done, 3) for r in runs],
    }
    return [
        Figure("backlog_drain", "msg/s", rates, bare, ">= 5000", extra=extra),
        Figure("backlog_drain_vs_bare_decrypt", "msg/s", rates, bare, ">= 0.5 x baseline"),
        Figure("bare_axolotl_decrypt", "msg/s", bare, note="python-axolotl alone, in memory"),
    ]


async def run(work: Path, reps: int, count: int = 10_000, size: int = 1024) -> list[Figure]:
    bench = DrainBench(work, count, size)
    try:
        with step("drain: set-up"):
            await bench.setup()
        runs = []
        for _ in range(reps):
            with step("drain: one repetition"):
                runs.append(await bench.run_once())
    finally:
        await bench.close()
    return figures(runs)

"""Client figures over a dev server in its own process (not a test; no targets).

    .venv/bin/python -m benchmarks.client_latency            # 200 messages, 1000 pending
    N_LATENCY=500 N_DRAIN=2000 .venv/bin/python -m benchmarks.client_latency

1. Send → peer-received latency: ``SignalClient.send_text`` on one account until the
   peer's ``MessageReceived`` (committed to its store), one message at a time, over
   a dev server on loopback. Median and p99.
2. Draining a backlog: the receiver is offline while N messages are stored for it;
   then it starts, and the clock runs from its CONNECTED event (the drain starts
   there) to the end of that drain: every item decrypted, committed and deleted.

Both accounts are registered through the client's own flow. The dev server runs in
a subprocess, so its work is not counted against the client's loop (it still shares
the machine's cores).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from peerwave_tui import events as ev
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import AccountRecord, ConnectionState, Contact, KeyMode, MessageStatus
from peerwave_tui.paths import Paths
from peerwave_tui.storage.custody import KeyCustody, PassphraseSource
from tests.devserver_fixtures import DevServerProcess

N_LATENCY = int(os.environ.get("N_LATENCY", "200"))
N_DRAIN = int(os.environ.get("N_DRAIN", "1000"))
PASSPHRASE = "benchmark passphrase"


def _manager(home: Path) -> SignalClientManager:
    paths = Paths.from_home(home).ensure()
    custody = KeyCustody(
        paths, mode=KeyMode.PASSPHRASE, passphrase_source=PassphraseSource.fixed(PASSPHRASE)
    )
    return SignalClientManager(paths, custody)


class Tap:
    """A manager's events, with waiting."""

    def __init__(self, manager: SignalClientManager) -> None:
        self.events: list[tuple[float, ev.Event]] = []
        self._changed = asyncio.Event()
        self._stream = manager.events()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self._stream:
            self.events.append((time.perf_counter(), event))
            self._changed.set()

    async def wait(self, predicate: Callable[[ev.Event], bool], timeout: float = 600) -> float:
        """perf_counter time of the first matching event (from the start)."""

        async def scan() -> float:
            seen = 0
            while True:
                for at, event in self.events[seen:]:
                    if predicate(event):
                        return at
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    def forget(self) -> None:
        self.events.clear()

    async def close(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


async def _register(
    manager: SignalClientManager, server: DevServerProcess, email: str, name: str
) -> AccountRecord:
    pending = await manager.register_start(server.url, email)
    result = await manager.register_finish(pending, await server.read_otp(email), name)
    return result.account


def _connected(account_id: str) -> Callable[[ev.Event], bool]:
    return lambda e: (
        isinstance(e, ev.ConnectionChanged)
        and e.account_id == account_id
        and e.state is ConnectionState.CONNECTED
    )


def _received(account_id: str, text: str) -> Callable[[ev.Event], bool]:
    return lambda e: (
        isinstance(e, ev.MessageReceived) and e.account_id == account_id and e.message.text == text
    )


async def _start_profiler() -> asyncio.subprocess.Process | None:
    """``PROFILE_DRAIN=FILE PY_SPY=/path/to/py-spy``: sample the drain with py-spy (all
    threads, collapsed stacks in FILE)."""
    target = os.environ.get("PROFILE_DRAIN")
    if not target:
        return None
    proc = await asyncio.create_subprocess_exec(
        os.environ.get("PY_SPY", "py-spy"), "record", "--pid", str(os.getpid()),
        "--rate", "250", "--format", "raw", "--output", target, "--threads", "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.sleep(1.0)  # let it attach
    return proc


async def _stop_profiler(proc: asyncio.subprocess.Process | None) -> None:
    if proc is not None:
        proc.send_signal(signal.SIGINT)
        await proc.wait()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="client-bench-"))
    async with DevServerProcess(work / "server") as server:
        await server.start()
        alice_mgr, bob_mgr = _manager(work / "alice"), _manager(work / "bob")
        alice_tap, bob_tap = Tap(alice_mgr), Tap(bob_mgr)
        alice = await _register(alice_mgr, server, "alice@example.org", "Alice")
        bob = await _register(bob_mgr, server, "bob@example.org", "Bob")
        await alice_tap.wait(_connected(alice.account_id))
        await bob_tap.wait(_connected(bob.account_id))
        alice_id, bob_id = alice.user_id or "", bob.user_id or ""
        await alice_mgr.open_conversation(alice.account_id, Contact(bob_id, "Bob"))
        await bob_mgr.open_conversation(bob.account_id, Contact(alice_id, "Alice"))
        # Warm-up: both sessions established (later messages are SignalMessages).
        await alice_mgr.send(alice.account_id, bob_id, "warm-up")
        await bob_tap.wait(_received(bob.account_id, "warm-up"))
        await bob_mgr.send(bob.account_id, alice_id, "warm-up reply")
        await alice_tap.wait(_received(alice.account_id, "warm-up reply"))

        # 1. Latency.
        latencies = []
        for i in range(N_LATENCY):
            text = f"latency {i}"
            bob_tap.forget()
            started = time.perf_counter()
            await alice_mgr.send(alice.account_id, bob_id, text)
            arrived = await bob_tap.wait(_received(bob.account_id, text))
            latencies.append((arrived - started) * 1000)
        print(
            f"send → peer-received latency over {N_LATENCY} messages: "
            f"median {statistics.median(latencies):.1f} ms, "
            f"p99 {_percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms"
        )

        # 2. Drain.
        await bob_mgr.aclose()
        await bob_tap.close()
        client = alice_mgr.client(alice.account_id)
        sent_at = time.perf_counter()
        last = None
        for i in range(N_DRAIN):
            last = await alice_mgr.send(alice.account_id, bob_id, f"backlog {i}")
        assert last is not None
        await alice_tap.wait(
            lambda e: (
                isinstance(e, ev.MessageStatusChanged)
                and e.item_id == last.item_id
                and e.status is MessageStatus.STORED
            )
        )
        stored_in = time.perf_counter() - sent_at
        await client.wait_outbox_idle(60)
        bob_again = _manager(work / "bob")
        tap = Tap(bob_again)
        profiler = await _start_profiler()
        await bob_again.start()
        start = await tap.wait(_connected(bob.account_id))
        done = await tap.wait(
            lambda e: isinstance(e, ev.BacklogProgress) and e.done and e.processed > 0
        )
        processed = next(
            e.processed
            for _t, e in reversed(tap.events)
            if isinstance(e, ev.BacklogProgress) and e.done and e.processed > 0
        )
        await _stop_profiler(profiler)
        received = sum(1 for _t, e in tap.events if isinstance(e, ev.MessageReceived))
        seconds = done - start
        print(
            f"drain of {processed} pending messages ({received} committed): {seconds:.2f} s, "
            f"{processed / seconds:.0f} messages/s "
            f"(sending them took {stored_in:.1f} s, {N_DRAIN / stored_in:.0f} messages/s)"
        )
        await tap.close()
        await alice_tap.close()
        await bob_again.aclose()
        await alice_mgr.aclose()


if __name__ == "__main__":
    asyncio.run(main())

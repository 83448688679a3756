"""Live latency: ``send()`` on one client → the peer's client emits ``MessageReceived``.

Two users, each with their own SignalClientManager (keyring mode, own home), in this
process, on one dev server process on loopback. After a warm-up (sessions confirmed
both ways, bundles cached) the sender sends N messages one at a time; each is timed
from just before ``manager.send()`` to the arrival of the receiver's
``MessageReceived`` (emitted after the commit) on an ``events()`` subscription, as a
UI would see it. The next message goes when the previous one is stored on the server
(the sender's ``MessageStatusChanged``), so each is measured alone.

Baseline, interleaved message by message on the same server: a bare socket.io round
trip over the same path, ``sendItem`` from one raw socket to ``receiveItem`` on
another (two more accounts), with a payload of the same size.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.clients import EventTap, connected, keyring_manager, register
from benchmarks.peer import RawPeer
from benchmarks.profiling import profiled
from benchmarks.progress import step
from benchmarks.records import Figure, percentile
from benchmarks.servers import DevServer
from peerwave_tui import events as ev
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import AccountRecord, Contact, MessageStatus

EVENT_TIMEOUT = 60.0
TEXT_SIZE = 100
WARM_UP = 5


@dataclass
class LatencyRun:
    client_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)


def _text(i: int) -> str:
    return f"{i:08d} " + "x" * (TEXT_SIZE - 9)


class LatencyBench:
    def __init__(self, work: Path) -> None:
        self.server = DevServer(work / "server", name="latency")
        self.work = work
        self.sender: SignalClientManager | None = None
        self.receiver: SignalClientManager | None = None
        self.sender_tap: EventTap | None = None
        self.receiver_tap: EventTap | None = None
        self.alice: AccountRecord | None = None
        self.bob: AccountRecord | None = None
        self.raw_from = RawPeer(self.server, work / "raw", "RawFrom")
        self.raw_to = RawPeer(self.server, work / "raw", "RawTo")
        self._arrivals: dict[str, float] = {}
        self._counter = 0

    async def setup(self) -> None:
        await self.server.start()
        self.sender = keyring_manager(self.work / "alice")
        self.receiver = keyring_manager(self.work / "bob")
        self.sender_tap = EventTap(self.sender)
        self.receiver_tap = EventTap(self.receiver)
        self.alice = await register(self.sender, self.server, "Alice")
        self.bob = await register(self.receiver, self.server, "Bob")
        await self.sender_tap.wait_for(connected(self.alice.account_id), EVENT_TIMEOUT)
        await self.receiver_tap.wait_for(connected(self.bob.account_id), EVENT_TIMEOUT)
        bob_contact = await self._find(self.sender, self.alice, str(self.bob.user_id))
        await self.sender.open_conversation(self.alice.account_id, bob_contact)
        for _ in range(WARM_UP):
            await self.one_message()
        # Bob answers once, so Alice's session is confirmed (SignalMessages from now on).
        mark = self.sender_tap.mark()
        await self.receiver.send(self.bob.account_id, str(self.alice.user_id), "answer")
        await self.sender_tap.wait_for(
            lambda e: isinstance(e, ev.MessageReceived) and e.message.text == "answer",
            EVENT_TIMEOUT,
            start=mark,
        )
        for _ in range(WARM_UP):
            await self.one_message()
        await self.raw_from.create()
        await self.raw_to.create()
        assert self.raw_to.socket is not None
        self.raw_to.socket.on("receiveItem", self._raw_arrived)
        for _ in range(WARM_UP):
            await self.one_bare()

    @staticmethod
    async def _find(manager: SignalClientManager, me: AccountRecord, user_id: str) -> Contact:
        for person in await manager.people(me.account_id):
            if person.user_id == user_id:
                return person
        raise RuntimeError("the peer is not in the people list")

    async def one_message(self) -> float:
        """Milliseconds from ``send()`` to the receiver's ``MessageReceived``."""
        assert self.sender and self.receiver_tap and self.sender_tap and self.alice and self.bob
        self._counter += 1
        text = _text(self._counter)
        received_mark, sent_mark = self.receiver_tap.mark(), self.sender_tap.mark()
        start = time.perf_counter()
        message = await self.sender.send(self.alice.account_id, str(self.bob.user_id), text)
        arrived = await self.receiver_tap.wait_for(
            lambda e: isinstance(e, ev.MessageReceived) and e.message.text == text,
            EVENT_TIMEOUT,
            start=received_mark,
        )
        await self.sender_tap.wait_for(
            lambda e: (
                isinstance(e, ev.MessageStatusChanged)
                and e.item_id == message.item_id
                and e.status is MessageStatus.STORED
            ),
            EVENT_TIMEOUT,
            start=sent_mark,
        )
        return (arrived - start) * 1000

    def _raw_arrived(self, data: Any) -> None:
        if isinstance(data, dict):
            self._arrivals[str(data.get("itemId"))] = time.perf_counter()

    async def one_bare(self) -> float:
        """Milliseconds for ``sendItem`` on one raw socket → ``receiveItem`` on another."""
        sender, receiver = self.raw_from.socket, self.raw_to.socket
        assert sender is not None and receiver is not None
        item_id = str(uuid.uuid4())
        payload = base64.b64encode(os.urandom(TEXT_SIZE + 80)).decode()
        before = receiver.counts.get("receiveItem", 0)
        start = time.perf_counter()
        await sender.send_item(
            item_id=item_id,
            recipient=self.raw_to.user_id,
            recipient_device=self.raw_to.device_id,
            payload=payload,
            cipher_type=2,
        )
        await receiver.wait_count("receiveItem", before + 1, EVENT_TIMEOUT)
        arrived = self._arrivals.pop(item_id)
        await receiver.call("deleteItem", {"itemId": item_id})
        return (arrived - start) * 1000

    async def run_once(self, count: int) -> LatencyRun:
        run = LatencyRun()
        async with profiled("latency", {"server": self.server.pid}):
            for _ in range(count):
                run.client_ms.append(await self.one_message())
                run.bare_ms.append(await self.one_bare())
        return run

    async def close(self) -> None:
        for tap in (self.sender_tap, self.receiver_tap):
            if tap is not None:
                await tap.close()
        for manager in (self.sender, self.receiver):
            if manager is not None:
                await manager.aclose()
        await self.raw_from.close()
        await self.raw_to.close()
        await self.server.stop()


def figures(runs: list[LatencyRun]) -> list[Figure]:
    p50 = [percentile(r.client_ms, 0.50) for r in runs]
    p99 = [percentile(r.client_ms, 0.99) for r in runs]
    bare50 = [percentile(r.bare_ms, 0.50) for r in runs]
    bare99 = [percentile(r.bare_ms, 0.99) for r in runs]
    everything = [x for r in runs for x in r.client_ms]
    extra = {
        "messages": len(everything),
        "p90_ms": percentile(everything, 0.90) if everything else None,
        "max_ms": max(everything) if everything else None,
    }
    return [
        Figure("latency_p50", "ms", p50, bare50, "<= 5", extra=extra),
        Figure("latency_p99", "ms", p99, bare99, "<= 20"),
        Figure(
            "latency_vs_socketio",
            "ms",
            p50,
            bare50,
            "<= 3 x baseline",
            note="p50 against the p50 of a bare socket.io sendItem→receiveItem",
        ),
    ]


async def run(work: Path, reps: int, count: int = 1000) -> list[Figure]:
    bench = LatencyBench(work)
    try:
        with step("latency: set-up"):
            await bench.setup()
        runs = []
        for _ in range(reps):
            with step(f"latency: {count} messages and round trips"):
                runs.append(await bench.run_once(count))
    finally:
        await bench.close()
    return figures(runs)

"""The app: cold start, opening a big conversation, key presses during a drain.

Set-up (once): 5 dev server processes; one home with an account on each (keyring
mode, the client's own registration); a real peer on each server. The first account
gets a conversation of 100,000 messages and one of 20, written straight through the
store's History API (one transaction); the others get 20 each. The second account
confirms a Signal session with its peer (so the backlog is ordinary SignalMessages).

The app runs in a fresh process on a real pseudo-terminal (120×40) through
``ui_child``, which builds it as ``peerwave-tui`` does (``commands.app.build_app``:
the client stack is imported and built in a thread after the first paint) and stamps
every frame Textual writes. Every timed process, the baseline's too, reads the run's
bytecode cache, compiled once before anything is timed (``app_process.child_env``).
Figures:

- ``cold_start_first_paint``: from just before the process is spawned to its first
  frame. Baseline: a fresh ``python -c "import textual.app"``, spawn to exit.
  ``cold_start_servers_shown`` (no target): to the first frame with all 5 tabs in
  it (drawn from servers.toml; their connections come later).
- ``open_conversation_first_paint``: ``open_conversation`` of the 100,000-message
  conversation → the first frame showing its messages. Baseline: the same for the
  20-message conversation, in the same run (after a warm-up opening of it, since the
  run's first opening pays one-time costs).
- ``ui_keypress_during_drain_p95``: the peer leaves 10,000 messages pending for the
  second account; the app starts, the first account's conversation is open with the
  composer focused, and while the second account drains, a key is written to the
  terminal every ~30 ms; each is timed from the write to the first frame in which the
  composer holds the character. Baseline: the same after the drain has finished.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.app_process import (
    CHILD_TIMEOUT,
    Child,
    ChildRun,
    textual_import_s,
    warm_bytecode,
)
from benchmarks.bench_drain import confirm_session, text_messages
from benchmarks.clients import EventTap, connected, keyring_manager, register
from benchmarks.peer import RawPeer
from benchmarks.profiling import profiled
from benchmarks.progress import step
from benchmarks.records import Figure, percentile
from benchmarks.servers import DevServer, start_servers, stop_servers
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import (
    AccountRecord,
    Contact,
    ConversationKind,
    Direction,
    MessageKind,
    MessageStatus,
)
from peerwave_tui.storage.history import History
from peerwave_tui.storage.tx import transaction

SMALL = 20
ECHO_TIMEOUT = 15.0
KEY_GAP_S = 0.03
IDLE_KEYS = 30
KEYS = "abcdefghijklmnopqrstuvwxyz"


def history_writer(
    contact: Contact, me: tuple[str, int], peer_device: int, count: int, size_cycle: int = 190
) -> Any:
    """A store-thread job: ``count`` messages with ``contact`` (alternating directions,
    one a minute up to now, texts of 10–200 characters), in one transaction."""
    now_ms = int(time.time() * 1000)

    def write(conn: Any) -> None:
        history = History(conn)
        with transaction(conn):
            history.upsert_contact(contact, now_ms)
            history.ensure_conversation(contact.user_id, ConversationKind.DIRECT, None)
            for i in range(count):
                incoming = i % 2 == 0
                text = f"message {i}: " + "lorem ipsum dolor sit amet " * 8
                history.insert_message(
                    conversation_id=contact.user_id,
                    conversation_kind=ConversationKind.DIRECT,
                    item_id=str(uuid.uuid4()),
                    sender=contact.user_id if incoming else me[0],
                    sender_device=peer_device if incoming else me[1],
                    direction=Direction.IN if incoming else Direction.OUT,
                    kind=MessageKind.TEXT,
                    body=text[: 10 + (i * 37) % size_cycle],
                    status=MessageStatus.RECEIVED if incoming else MessageStatus.STORED,
                    created_at=now_ms - (count - i) * 60_000,
                    reported=True,
                )

    return write


class UiBench:
    def __init__(self, work: Path, servers: int, stored: int, backlog: int) -> None:
        self.work = work
        self.count = servers
        self.stored = stored
        self.backlog = backlog
        self.home = work / "home"
        self.pycache = work / "pycache"
        self.servers: list[DevServer] = []
        self.records: list[AccountRecord] = []
        self.peers: list[RawPeer] = []
        self.big = ""
        self.small = ""
        self.drain_peer: RawPeer | None = None
        self.drain_device = 0
        self._runs = 0

    async def setup(self) -> None:
        self.servers = await start_servers(self.work / "servers", self.count, "ui")
        manager = keyring_manager(self.home)
        tap = EventTap(manager)
        try:
            for i, server in enumerate(self.servers):
                record = await register(manager, server, f"Me{i}")
                await tap.wait_for(connected(record.account_id), 120)
                self.records.append(record)
            big = await self._peer(0, "Big")
            small = await self._peer(0, "Small")
            self.big, self.small = big.user_id, small.user_id
            with step(f"ui: writing {self.stored} messages"):
                await self._write(manager, 0, big, self.stored)
            await self._write(manager, 0, small, SMALL)
            for i in range(1, self.count):
                peer = await self._peer(i, f"Peer{i}")
                await self._write(manager, i, peer, SMALL)
            self.drain_peer = self.peers[2]  # the second account's peer
            self.drain_device = await confirm_session(
                manager, tap, self.records[1], self.drain_peer
            )
        finally:
            await tap.close()
            await manager.aclose()
        await warm_bytecode(self.pycache)

    async def _peer(self, server: int, name: str) -> RawPeer:
        peer = RawPeer(self.servers[server], self.work / "peers", name)
        self.peers.append(peer)
        await peer.create()
        return peer

    async def _write(
        self, manager: SignalClientManager, index: int, peer: RawPeer, count: int
    ) -> None:
        client = manager.client(self.records[index].account_id)
        me = client.me
        contact = Contact(peer.user_id, peer.name)
        job = history_writer(contact, (me.user_id, me.device_id), peer.device_id, count)
        await client.store.run(job)

    def _settings(self, **extra: Any) -> Path:
        self._runs += 1
        path = self.work / f"child-{self._runs}.json"
        settings = {"home": str(self.home), "servers": self.count, **extra}
        path.write_text(json.dumps(settings), "utf-8")
        return path

    async def cold_start(self) -> ChildRun:
        account = self.records[0].account_id
        # The first opening of the run pays one-time costs (first mount and layout of
        # the message view): a warm-up opening goes first, and the baseline is measured
        # after the big one.
        opens = [["warm", account, self.small], ["big", account, self.big]]
        opens.append(["small", account, self.small])
        settings = self._settings(open=opens)
        child = Child(settings, self.pycache, profile_as=f"cold-start-{self._runs}")
        run = ChildRun(await child.start())
        try:
            while not any(kind == "opened" and args[0] == "small" for kind, args in run.lines):
                run.lines.append(await child.next_line(CHILD_TIMEOUT))
        finally:
            run.terminal_tail = child.tail
            await child.stop()
        return run

    async def keypresses(self) -> ChildRun:
        peer = self.drain_peer
        assert peer is not None
        record = self.records[1]
        user_id = str(record.user_id)
        texts = text_messages(self.backlog, 1024)
        await peer.send(
            user_id, self.drain_device, await peer.encrypt(user_id, self.drain_device, texts)
        )
        first = self.records[0].account_id
        settings = self._settings(focus=[first, self.small], backlog_account=record.account_id)
        child = Child(settings, self.pycache)
        run = ChildRun(await child.start())
        try:
            assert child.proc is not None
            async with profiled("keypress", {"app": child.proc.pid}, include_self=False):
                await self._type(child, run)
        finally:
            run.terminal_tail = child.tail
            await child.stop()
        left = self.servers[1].pending_count(user_id, self.drain_device)
        if left:
            raise RuntimeError(f"{left} messages still pending after the drain")
        return run

    async def _type(self, child: Child, run: ChildRun) -> None:
        """Type while the drain runs, then some more once it is done."""
        state = {"started": False, "done": False, "length": 0}

        def note(kind: str, args: list[str]) -> None:
            run.lines.append((kind, args))
            if kind == "backlog":
                state["started"] = True
                if args[1] == "1" and int(args[0]) >= self.backlog:
                    state["done"] = True
            elif kind == "text":
                state["length"] = int(args[0])

        async def pump(until: float) -> None:
            while not child.lines.empty() or time.monotonic() < until:
                left = until - time.monotonic()
                if left <= 0 and child.lines.empty():
                    return
                try:
                    kind, args = await child.next_line(max(left, 0.001))
                except TimeoutError:
                    return
                note(kind, args)

        while not any(kind == "ready" for kind, _ in run.lines):
            note(*(await child.next_line(CHILD_TIMEOUT)))
        typed = 0
        idle = 0
        deadline = time.monotonic() + CHILD_TIMEOUT * 3
        while idle < IDLE_KEYS and time.monotonic() < deadline:
            during = bool(state["started"]) and not state["done"]
            was_done = bool(state["done"])
            sent = child.key(KEYS[typed % len(KEYS)])
            typed += 1
            echo_by = sent + ECHO_TIMEOUT
            while int(state["length"]) < typed and time.monotonic() < echo_by:
                kind, args = await child.next_line(echo_by - time.monotonic())
                note(kind, args)
                if kind == "text" and int(args[0]) >= typed:
                    latency = (float(args[1]) - sent) * 1000
                    if during and not state["done"]:
                        run.keys_during.append(latency)
                    elif was_done:
                        run.keys_idle.append(latency)
                        idle += 1
            if int(state["length"]) < typed:
                raise RuntimeError("a key press never reached the screen")
            await pump(time.monotonic() + KEY_GAP_S)
        if not state["done"]:
            raise RuntimeError("the backlog drain did not finish")

    async def close(self) -> None:
        for peer in self.peers:
            with contextlib.suppress(Exception):
                await peer.close()
        await stop_servers(self.servers)


def figures(
    colds: list[ChildRun], imports: list[float], keys: list[ChildRun], servers: int
) -> list[Figure]:
    paint = [float(r.first("paint")[0]) - r.spawned for r in colds]  # type: ignore[index]
    shown = [float(r.first("servers")[0]) - r.spawned for r in colds]  # type: ignore[index]
    big = [r.opened("big") for r in colds]
    small = [r.opened("small") for r in colds]
    during = [percentile(r.keys_during, 0.95) for r in keys if r.keys_during]
    idle = [percentile(r.keys_idle, 0.95) for r in keys if r.keys_idle]
    all_during = [x for r in keys for x in r.keys_during]
    keys_note = (
        "key written to the terminal → first frame showing it, while another server "
        "drains 10,000 messages; baseline: the same when idle"
    )
    if not during:
        keys_note = "not measured: no key press fell inside the drain; " + keys_note
    return [
        Figure(
            "cold_start_first_paint",
            "s",
            paint,
            imports,
            "<= 1.0",
            note=f"{servers} servers, 100,000 stored messages; baseline: python -c 'import textual.app'",
        ),
        Figure(
            "cold_start_servers_shown",
            "s",
            shown,
            imports,
            note="spawn to the first frame with every server's tab",
        ),
        Figure(
            "open_conversation_first_paint",
            "ms",
            big,
            small,
            "<= 100",
            note=f"100,000 messages; baseline: a conversation of {SMALL}",
        ),
        Figure(
            "ui_keypress_during_drain_p95",
            "ms",
            during,
            idle,
            "<= 100",
            note=keys_note,
            extra={
                "keys_during": len(all_during),
                "p50_during_ms": percentile(all_during, 0.5) if all_during else None,
                "max_during_ms": max(all_during) if all_during else None,
            },
        ),
    ]


async def run(
    work: Path, *, cold_starts: int, keypress_runs: int, servers: int, stored: int, backlog: int
) -> list[Figure]:
    bench = UiBench(work, servers, stored, backlog)
    try:
        with step("ui: set-up"):
            await bench.setup()
        colds: list[ChildRun] = []
        imports: list[float] = []
        with step(f"ui: {cold_starts} cold starts"):
            for _ in range(cold_starts):
                imports.append(await textual_import_s(bench.pycache))
                colds.append(await bench.cold_start())
        with step(f"ui: {keypress_runs} key press runs"):
            keys = [await bench.keypresses() for _ in range(keypress_runs)]
    finally:
        await bench.close()
    return figures(colds, imports, keys, servers)

"""Group send → receive latency in a 3-member channel (a figure, not a test).

    .venv/bin/python -m benchmarks.group_latency              # 100 messages
    N_GROUP=300 .venv/bin/python -m benchmarks.group_latency

Alice, Bob and Carol register through the client's own flow on a dev server in its
own process; Alice creates a channel, the others join, one warm-up message goes
round (sender keys distributed, sessions built). Then Alice sends N messages, one at
a time: the clock runs from ``send_text`` (the message written to the outbox) until
the member's ``MessageReceived`` (decrypted and committed to its store). It reports
the median and p99 per receiver and for "both have it". Everything else shares the
machine's cores (the three clients run in this process, on one event loop).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.client_latency import Tap, _manager
from peerwave_tui import events as ev
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import AccountRecord, ConnectionState
from tests.devserver_fixtures import DevServerProcess

N_GROUP = int(os.environ.get("N_GROUP", "100"))


async def _member(
    root: Path, server: DevServerProcess, name: str
) -> tuple[SignalClientManager, Tap, AccountRecord]:
    manager = _manager(root / name)
    tap = Tap(manager)
    email = f"{name}@bench.invalid"
    pending = await manager.register_start(server.url, email)
    result = await manager.register_finish(pending, await server.read_otp(email), name.title())
    account = result.account
    await tap.wait(
        lambda e: (
            isinstance(e, ev.ConnectionChanged)
            and e.account_id == account.account_id
            and e.state is ConnectionState.CONNECTED
        )
    )
    return manager, tap, account


def _received(account_id: str, text: str) -> object:
    return lambda e: (
        isinstance(e, ev.MessageReceived) and e.account_id == account_id and e.message.text == text
    )


def _summary(label: str, values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"{label:<14} median {statistics.median(ordered) * 1000:7.1f} ms"
        f"   p99 {p99 * 1000:7.1f} ms   (n={len(ordered)})"
    )


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pw-group-bench-") as tmp:
        root = Path(tmp)
        async with DevServerProcess(root / "srv") as server:
            await server.start()
            members = [await _member(root, server, n) for n in ("alice", "bob", "carol")]
            (alice, alice_tap, alice_acc), *others = members
            try:
                channel = await alice.create_channel(alice_acc.account_id, "bench")
                for manager, _tap, account in others:
                    await manager.join_channel(account.account_id, channel.channel_id)
                client = alice.client(alice_acc.account_id)
                await client.send_text(channel.channel_id, "warm-up")
                for _, tap, account in others:
                    await tap.wait(_received(account.account_id, "warm-up"))
                per: dict[str, list[float]] = {acc.display_name or "?": [] for *_, acc in others}
                both: list[float] = []
                for n in range(N_GROUP):
                    text = f"group message {n}"
                    started = time.perf_counter()
                    await client.send_text(channel.channel_id, text)
                    arrivals = [
                        await tap.wait(_received(account.account_id, text))
                        for _m, tap, account in others
                    ]
                    for (_m, _t, account), at in zip(others, arrivals, strict=True):
                        per[account.display_name or "?"].append(at - started)
                    both.append(max(arrivals) - started)
                    for _m, tap, _a in others:
                        tap.forget()
                print(f"group send → receive, 3-member channel, {N_GROUP} messages")
                for name, values in per.items():
                    print(_summary(f"to {name}", values))
                print(_summary("to both", both))
            finally:
                for manager, _tap, _account in members:
                    await manager.aclose()


if __name__ == "__main__":
    asyncio.run(main())

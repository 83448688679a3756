"""One fresh client process for the scale benchmark (run by ``bench_scale``).

    python -m benchmarks.scale_probe SETTINGS.json RESULT.json

It opens the home named in the settings with a SignalClientManager (keyring mode, the
saved accounts of that home's servers.toml), and measures in itself:

- ``connect_s``: ``manager.start()`` → every account listed in ``wait_for`` CONNECTED;
- ``rss_before_kib`` / ``rss_after_kib``: VmRSS with every module imported and no
  account open, and again ``settle_s`` after connecting;
- ``cpu_percent``: this process's CPU time (all threads) over ``idle_s`` of idling
  afterwards, as a share of one core.

A fresh process per measurement: memory freed by an earlier run stays in the
allocator's arenas and would hide the next run's growth.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from peerwave_tui import events as ev
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import ConnectionState, KeyMode
from peerwave_tui.paths import Paths
from peerwave_tui.storage.custody import KeyCustody

CLOSE_TIMEOUT = 20.0  # unless the settings give ``close_timeout_s``


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


async def probe(settings: dict[str, Any]) -> dict[str, Any]:
    paths = Paths.from_home(Path(settings["home"]))
    wait_for = set(settings["wait_for"])
    manager = SignalClientManager(paths, KeyCustody(paths, KeyMode.KEYRING))
    stream = manager.events()
    connected_at: dict[str, float] = {}
    all_connected = asyncio.Event()
    rss_before = rss_kib()

    async def watch() -> None:
        async for event in stream:
            if (
                isinstance(event, ev.ConnectionChanged)
                and event.state is ConnectionState.CONNECTED
                and event.account_id in wait_for
                and event.account_id not in connected_at
            ):
                connected_at[event.account_id] = time.perf_counter()
                if len(connected_at) == len(wait_for):
                    all_connected.set()

    watcher = asyncio.create_task(watch())
    result: dict[str, Any] = {}
    try:
        start = time.perf_counter()
        await manager.start()
        try:
            await asyncio.wait_for(all_connected.wait(), float(settings["timeout_s"]))
        except TimeoutError:
            # A stall is a result (the benchmark reports it as a missed target), with
            # what is needed to diagnose it: which accounts never connected, in what
            # state, and where every task waits.
            late = sorted(wait_for - set(connected_at))
            result["connect_s"] = None
            result["stall"] = {
                "not_connected": {a: str(manager.connection_state(a)) for a in late},
                "tasks": task_stacks(),
            }
            return result
        result["connect_s"] = max(connected_at.values()) - start
        result["per_account_s"] = sorted(t - start for t in connected_at.values())
        await asyncio.sleep(float(settings["settle_s"]))
        idle = float(settings["idle_s"])
        if idle > 0:
            cpu, wall = cpu_seconds(), time.perf_counter()
            await asyncio.sleep(idle)
            used, elapsed = cpu_seconds() - cpu, time.perf_counter() - wall
            result["cpu_percent"] = 100 * used / elapsed
        result["rss_before_kib"] = rss_before
        result["rss_after_kib"] = rss_kib()
        result["states"] = {a: manager.connection_state(a)[0].value for a in wait_for}
    finally:
        watcher.cancel()
        result.update(await close(manager, float(settings.get("close_timeout_s", CLOSE_TIMEOUT))))
    return result


async def close(manager: SignalClientManager, timeout: float) -> dict[str, Any]:
    """Close the manager; if that hangs, say where (and let ``main`` end the process)."""
    start = time.perf_counter()
    closing = asyncio.ensure_future(manager.aclose())
    done, _ = await asyncio.wait({closing}, timeout=timeout)
    if done:
        closing.result()
        return {"close_s": time.perf_counter() - start}
    return {"close_s": None, "close_stuck": task_stacks()}


def task_stacks() -> list[str]:
    """Where each task of the loop (but this one) waits."""
    stacks = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task():
            continue
        frames = task.get_stack(limit=6)
        where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in frames)
        stacks.append(f"{task.get_name()}: {where}")
    return stacks


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    settings = json.loads(Path(args[0]).read_text("utf-8"))
    loop = asyncio.new_event_loop()
    result = loop.run_until_complete(probe(settings))
    Path(args[1]).write_text(json.dumps(result), "utf-8")
    if result.get("close_s") is None:
        # Closing hung (reported in the result): leave without waiting for it.
        sys.stdout.flush()
        os._exit(0)
    loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

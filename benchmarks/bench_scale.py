"""Scale: 20 servers connected in one client process.

Set-up: 21 dev server processes (one account each, all in one home, keyring mode,
registered through the client's own flow). Then, per repetition, three fresh probe
processes (``scale_probe``), each opening that home:

1. one account only (every other repetition): its connect time is the baseline of
   "connect all";
2. the 20 healthy accounts: time until all 20 are CONNECTED, RSS growth per server,
   and CPU use while idle for ``idle_s`` after that;
3. the same 20 plus the 21st, whose server is frozen (SIGSTOP: TCP connections are
   accepted by the kernel, nothing is ever answered), listed first: the 20 healthy
   accounts' "connect all" time again. The difference from (2) is how much one server
   that never answers delays the others. (2) and (3) swap places every other
   repetition.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from benchmarks.clients import EventTap, connected, keyring_manager, register
from benchmarks.progress import step
from benchmarks.records import Figure
from benchmarks.servers import DevServer, start_servers, stop_servers
from peerwave_tui.models import AccountRecord
from peerwave_tui.paths import Paths
from peerwave_tui.saved_accounts import load_accounts, save_accounts

REPO_ROOT = Path(__file__).resolve().parent.parent
PROBE_TIMEOUT = 180.0
CONNECT_TIMEOUT = 120.0
SETTLE_S = 1.0  # after connecting: key checks and presence requests finish first
REGISTER_AT_ONCE = 4


async def run_probe(work: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Run ``scale_probe`` in a fresh process; its measurements as a dict."""
    settings_file = work / "probe-settings.json"
    result_file = work / "probe-result.json"
    result_file.unlink(missing_ok=True)
    settings_file.write_text(json.dumps(settings), "utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.scale_probe",
        str(settings_file),
        str(result_file),
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError("the scale probe did not finish in time") from None
    if proc.returncode != 0 or not result_file.exists():
        tail = stderr.decode("utf-8", "replace")[-2000:]
        raise RuntimeError(f"the scale probe failed ({proc.returncode}): {tail}")
    result: dict[str, Any] = json.loads(result_file.read_text("utf-8"))
    return result


class ScaleBench:
    def __init__(self, work: Path, servers: int, idle_s: float) -> None:
        self.work = work
        self.count = servers
        self.idle_s = idle_s
        self.home = work / "home"
        self.paths = Paths.from_home(self.home)
        self.servers: list[DevServer] = []
        self.healthy: list[AccountRecord] = []
        self.silent: AccountRecord | None = None

    async def setup(self) -> None:
        self.servers = await start_servers(self.work / "servers", self.count + 1, "scale")
        manager = keyring_manager(self.home)
        tap = EventTap(manager)
        limit = asyncio.Semaphore(REGISTER_AT_ONCE)

        async def one(i: int, server: DevServer) -> AccountRecord:
            async with limit:
                record = await register(manager, server, f"User{i}")
            await tap.wait_for(connected(record.account_id), CONNECT_TIMEOUT)
            return record

        try:
            records = await asyncio.gather(*(one(i, s) for i, s in enumerate(self.servers)))
        finally:
            await tap.close()
            await manager.aclose()
        saved = {r.account_id: r for r in load_accounts(self.paths.servers_file)}
        ordered = [saved[r.account_id] for r in records]
        self.healthy, self.silent = ordered[: self.count], ordered[self.count]

    def _use(self, records: list[AccountRecord]) -> None:
        save_accounts(self.paths.servers_file, records)

    def _settings(
        self, wait_for: list[AccountRecord], idle_s: float, close_timeout_s: float = 20.0
    ) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "wait_for": [r.account_id for r in wait_for],
            "timeout_s": CONNECT_TIMEOUT,
            "settle_s": SETTLE_S if idle_s else 0.0,
            "idle_s": idle_s,
            "close_timeout_s": close_timeout_s,
        }

    async def run_once(self, rep: int) -> dict[str, Any]:
        """One repetition; the order of the two 20-server probes alternates, so that
        whatever the first probe after a pause pays is not always charged to one side."""
        one = None
        if rep % 2 == 0:
            # The one-server baseline in every other repetition: each probe is a
            # process start, and the baseline moves little.
            single = self.healthy[:1]
            self._use(single)
            one = await run_probe(self.work, self._settings(single, 0))
        if rep % 2 == 0:
            healthy = await self._healthy()
            with_silent = await self._with_silent()
        else:
            with_silent = await self._with_silent()
            healthy = await self._healthy()
        return {"one": one, "healthy": healthy, "with_silent": with_silent}

    async def _healthy(self) -> dict[str, Any]:
        self._use(self.healthy)
        return await run_probe(self.work, self._settings(self.healthy, self.idle_s))

    async def _with_silent(self) -> dict[str, Any]:
        assert self.silent is not None
        silent_server = self.servers[self.count]
        silent_server.freeze()
        try:
            self._use([self.silent, *self.healthy])
            # Closing is known to hang with a frozen server (see docs/performance.md):
            # wait a little for it, then record where it hung.
            settings = self._settings(self.healthy, 0, close_timeout_s=5.0)
            result = await run_probe(self.work, settings)
        finally:
            silent_server.thaw()
        result["silent_server"] = silent_server.url
        return result

    async def close(self) -> None:
        await stop_servers(self.servers)


def _connect_s(result: dict[str, Any]) -> float:
    """A probe's connect-all time. A stall (not every account connected within the
    probe's limit) counts as the whole limit: a lower bound, and a missed target."""
    value = result.get("connect_s")
    return CONNECT_TIMEOUT if value is None else float(value)


def figures(runs: list[dict[str, Any]], count: int) -> list[Figure]:
    one = [_connect_s(r["one"]) for r in runs if r["one"] is not None]
    all_s = [_connect_s(r["healthy"]) for r in runs]
    settled = [r["healthy"] for r in runs if r["healthy"].get("connect_s") is not None]
    rss = [(h["rss_after_kib"] - h["rss_before_kib"]) / 1024 / count for h in settled]
    cpu = [h["cpu_percent"] for h in settled]
    with_silent = [_connect_s(r["with_silent"]) for r in runs]
    delay_ms = [(w - h) * 1000 for w, h in zip(with_silent, all_s, strict=True)]
    stalls = [
        {"probe": kind, "repetition": i, **r[kind]["stall"]}
        for i, r in enumerate(runs)
        for kind in ("one", "healthy", "with_silent")
        if r[kind] is not None and r[kind].get("stall")
    ]
    return [
        Figure(
            "scale_connect_all",
            "s",
            all_s,
            one,
            "<= 2",
            note=f"{count} servers; baseline: one server alone",
            extra={"servers": count, "stalls": stalls},
        ),
        Figure(
            "scale_rss_per_server",
            "MB",
            rss,
            target="<= 3",
            extra={"rss_before_mb": [round(h["rss_before_kib"] / 1024, 1) for h in settled]},
        ),
        Figure("scale_idle_cpu", "%", cpu, target="<= 1", note="share of one core, all threads"),
        Figure(
            "scale_unresponsive_delay",
            "ms",
            delay_ms,
            target="<= 100",
            note="connect-all of the healthy servers, with a frozen server minus without",
            extra={
                "with_silent_s": with_silent,
                # Closing the manager with a frozen server: how long, or where it hung.
                "close_with_silent_s": [r["with_silent"].get("close_s") for r in runs],
                "close_stuck": next(
                    (
                        r["with_silent"]["close_stuck"]
                        for r in runs
                        if r["with_silent"].get("close_stuck")
                    ),
                    [],
                ),
                "silent_server": runs[-1]["with_silent"].get("silent_server") if runs else None,
                "stalls": stalls,
            },
        ),
    ]


async def run(work: Path, reps: int, servers: int = 20, idle_s: float = 10.0) -> list[Figure]:
    bench = ScaleBench(work, servers, idle_s)
    try:
        with step(f"scale: set-up ({servers + 1} servers, accounts)"):
            await bench.setup()
        runs = []
        for rep in range(reps):
            with step("scale: one repetition"):
                runs.append(await bench.run_once(rep))
    finally:
        await bench.close()
    return figures(runs, servers)

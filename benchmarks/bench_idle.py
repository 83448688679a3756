"""The running app's CPU use while nobody types: ``peerwave-tui demo``, left alone.

Per repetition: ``python -m peerwave_tui demo`` starts in a fresh process on a real
pseudo-terminal (120×40, xterm-256color, truecolor), as a user would start it (with
the bytecode cache of every timed app process: ``app_process.child_env``): its two
dev servers run as child processes, its demo contacts (real clients) inside the app's
process. Once the screen says the user's account is connected, it settles for
``SETTLE_S`` (longer than the composer's cursor blinks after the last activity: see
``ui/widgets/composer.py``); then the app process's CPU time (user + system, all its
threads, from ``/proc/PID/stat``; the dev servers are other processes and are not
counted) is read over ``idle_s`` seconds of nobody typing, as a share of one core.
Then Ctrl+Q.

``ui_idle_cpu`` is the median of the repetitions; each repetition's per-second shares
go to the extras, ``settle_windows`` (from "connected" on) and ``windows`` (the
measured seconds), so start-up work and a periodic spike both show. The issue gives
no target; the aim is at most 1 %.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import sys
import termios
import time
from pathlib import Path

from benchmarks.app_process import child_env, warm_bytecode
from benchmarks.profiling import profiled
from benchmarks.progress import step
from benchmarks.records import Figure

REPO_ROOT = Path(__file__).resolve().parent.parent
ROWS, COLUMNS = 40, 120
READY_TEXT = b"Connected"  # the status line of the open conversation's server
READY_TIMEOUT = 120.0
# After "Connected": the demo contacts' key top-ups and presence, and the composer's
# cursor, which blinks for 10 s after the last activity (the opening of Nora's chat).
SETTLE_S = 12.0
QUIT_TIMEOUT = 30.0
CTRL_Q = b"\x11"


def cpu_ticks(pid: int) -> int:
    """utime + stime of one process (all its threads), in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


class DemoOnPty:
    """``peerwave-tui demo`` on a pseudo-terminal whose output is read and kept short."""

    def __init__(self, work: Path, pycache: Path) -> None:
        self.work = work
        self.pycache = pycache
        self.proc: asyncio.subprocess.Process | None = None
        self.master = -1
        self.seen = b""  # the terminal output so far (the tail only, once ready)
        self.ready = asyncio.Event()

    async def start(self) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        # The same bytecode cache as the other app processes (see ``child_env``).
        env = child_env(self.pycache)
        env.update({"TERM": "xterm-256color", "COLORTERM": "truecolor"})
        env["PEERWAVE_TUI_HOME"] = str(self.work / "home")  # its log goes here
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "peerwave_tui",
                "demo",
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=REPO_ROOT,
                env=env,
                start_new_session=True,  # the demo's dev servers share its process group
            )
        finally:
            os.close(slave)
        self.master = master
        os.set_blocking(master, False)
        asyncio.get_running_loop().add_reader(master, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
            return
        self.seen = (self.seen + data)[-65536:]
        if READY_TEXT in self.seen:
            self.ready.set()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def wait_ready(self) -> None:
        assert self.proc is not None
        exited = asyncio.ensure_future(self.proc.wait())
        ready = asyncio.ensure_future(self.ready.wait())
        try:
            done, _ = await asyncio.wait(
                {exited, ready}, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in (exited, ready):
                waiter.cancel()
        if ready not in done:
            tail = self.seen[-600:].decode("utf-8", "replace")
            raise RuntimeError(f"the demo did not come up (its screen ended with {tail!r})")

    async def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(OSError):
                os.write(self.master, CTRL_Q)
            try:
                await asyncio.wait_for(proc.wait(), QUIT_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        if self.master >= 0:
            asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)
            self.master = -1


async def _sample(pid: int, seconds: float) -> tuple[list[float], float]:
    """Per-second CPU shares of ``pid`` over ``seconds``, and the share over all of it."""
    hz = os.sysconf("SC_CLK_TCK")
    windows: list[float] = []
    first = previous = cpu_ticks(pid)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        await asyncio.sleep(1.0)
        now = cpu_ticks(pid)
        windows.append(100 * (now - previous) / hz)
        previous = now
    elapsed = time.monotonic() - started
    return windows, 100 * (cpu_ticks(pid) - first) / hz / elapsed


async def idle_once(
    work: Path, pycache: Path, idle_s: float
) -> tuple[float, list[float], list[float], float]:
    """One demo: (CPU share over ``idle_s``, its per-second shares, the settling
    seconds' shares, spawn → ready seconds)."""
    demo = DemoOnPty(work, pycache)
    spawned = time.monotonic()
    await demo.start()
    try:
        await demo.wait_ready()
        ready_s = time.monotonic() - spawned
        settling, _ = await _sample(demo.pid, SETTLE_S)
        async with profiled("idle", {"app": demo.pid}, include_self=False):
            windows, total = await _sample(demo.pid, idle_s)
    finally:
        await demo.stop()
    return total, windows, settling, ready_s


async def run(work: Path, reps: int, idle_s: float) -> list[Figure]:
    shares: list[float] = []
    windows: list[list[float]] = []
    settling: list[list[float]] = []
    ready: list[float] = []
    pycache = work / "pycache"
    await warm_bytecode(pycache)
    for rep in range(reps):
        with step(f"idle: demo {rep + 1} of {reps}, {idle_s:.0f} s idle"):
            share, per_second, settle, ready_s = await idle_once(
                work / f"run-{rep}", pycache, idle_s
            )
        shares.append(share)
        windows.append([round(w, 1) for w in per_second])
        settling.append([round(w, 1) for w in settle])
        ready.append(ready_s)
    return [
        Figure(
            "ui_idle_cpu",
            "%",
            shares,
            note=f"peerwave-tui demo left alone: {idle_s:.0f} s from {SETTLE_S:.0f} s after "
            "it showed 'Connected'; the app process's CPU time as a share of one core "
            "(no target; aim: <= 1)",
            extra={
                "windows": windows,
                "settle_windows": settling,
                "ready_s": ready,
                "idle_s": idle_s,
            },
        )
    ]

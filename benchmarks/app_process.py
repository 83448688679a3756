"""The app under measurement as a process of its own, on a real pseudo-terminal.

``Child`` runs ``benchmarks.ui_child`` (which builds the app exactly as
``peerwave-tui`` does) on a pty of 120×40 with a report pipe (the frames it drew, see
``ui_child``) and a control pipe; ``ChildRun`` keeps what it reported. Every timed
process, the baseline's too, runs with the same bytecode cache (``child_env``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import sys
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.profiling import profile_dir, py_spy_path

REPO_ROOT = Path(__file__).resolve().parent.parent
ROWS, COLUMNS = 40, 120
CHILD_TIMEOUT = 180.0


# The modules an app process imports, compiled once into the run's bytecode cache
# before anything is timed (an installed package has its .pyc files; a cold start is
# not a first start after installing).
WARM_IMPORTS = (
    "peerwave_tui.cli, peerwave_tui.commands.app, peerwave_tui.commands.common, "
    "peerwave_tui.ui.app, peerwave_tui.manager, textual.app"
)


def child_env(pycache: Path) -> dict[str, str]:
    """The environment of every timed process: bytecode cached under ``pycache``.

    PYTHONDONTWRITEBYTECODE (set on some machines, this one included) would make
    every app process compile our modules again, which no installed copy does; the
    cache prefix keeps the working tree clean. The baseline uses the same cache."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


async def warm_bytecode(pycache: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        f"import {WARM_IMPORTS}",
        stdin=asyncio.subprocess.DEVNULL,
        env=child_env(pycache),
        cwd=REPO_ROOT,
    )
    if await proc.wait() != 0:
        raise RuntimeError("importing the app's modules failed")


@dataclass
class ChildRun:
    spawned: float
    lines: list[tuple[str, list[str]]] = field(default_factory=list)
    keys_during: list[float] = field(default_factory=list)  # ms
    keys_idle: list[float] = field(default_factory=list)  # ms
    terminal_tail: bytes = b""

    def first(self, kind: str) -> list[str] | None:
        return next((args for k, args in self.lines if k == kind), None)

    def opened(self, name: str) -> float:
        for kind, args in self.lines:
            if kind == "opened" and args[0] == name:
                return (float(args[2]) - float(args[1])) * 1000
        raise RuntimeError(f"{name} was never opened")


class Child:
    """One app process on a pseudo-terminal, with its report and control pipes."""

    def __init__(self, settings_file: Path, pycache: Path, profile_as: str | None = None) -> None:
        self.settings_file = settings_file
        self.pycache = pycache
        self.profile_as = profile_as  # with --profile: run it under py-spy from the start
        self.proc: asyncio.subprocess.Process | None = None
        self.master = -1
        self.control_w = -1
        self.report_r = -1
        self.lines: asyncio.Queue[tuple[str, list[str]]] = asyncio.Queue()
        self._partial = b""
        self._tail = b""

    async def start(self) -> float:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        report_r, report_w = os.pipe()
        control_r, control_w = os.pipe()
        env = child_env(self.pycache)
        env.update({"TERM": "xterm-256color", "COLORTERM": "truecolor"})
        prefix: list[str] = []
        directory, tool = profile_dir(), py_spy_path()
        if self.profile_as and directory is not None and tool is not None:
            directory.mkdir(parents=True, exist_ok=True)
            output = str(directory / f"{self.profile_as}.txt")
            prefix = [tool, "record", "--rate", "250", "--format", "raw", "--threads"]
            prefix += ["--nonblocking"]
            prefix += ["--output", output, "--"]
        spawned = time.monotonic()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *prefix,
                sys.executable,
                "-m",
                "benchmarks.ui_child",
                str(self.settings_file),
                str(report_w),
                str(control_r),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                pass_fds=(report_w, control_r),
                cwd=REPO_ROOT,
                env=env,
                start_new_session=True,
            )
        finally:
            for fd in (slave, report_w, control_r):
                os.close(fd)
        self.master, self.report_r, self.control_w = master, report_r, control_w
        loop = asyncio.get_running_loop()
        os.set_blocking(master, False)
        os.set_blocking(report_r, False)
        loop.add_reader(master, self._read_terminal)
        loop.add_reader(report_r, self._read_report)
        return spawned

    def _read_terminal(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
            return
        self._tail = (self._tail + data)[-4096:]

    def _read_report(self) -> None:
        try:
            data = os.read(self.report_r, 65536)
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.report_r)
            self.lines.put_nowait(("eof", []))
            return
        self._partial += data
        *complete, self._partial = self._partial.split(b"\n")
        for raw in complete:
            kind, *args = raw.decode("utf-8", "replace").split(" ")
            self.lines.put_nowait((kind, args))

    async def next_line(self, timeout: float) -> tuple[str, list[str]]:
        kind, args = await asyncio.wait_for(self.lines.get(), timeout)
        if kind == "error":
            raise RuntimeError("the app: " + " ".join(args))
        if kind == "eof":
            raise RuntimeError("the app ended early")
        return kind, args

    def key(self, char: str) -> float:
        sent = time.monotonic()
        os.write(self.master, char.encode())
        return sent

    def quit(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self.control_w, b"quit\n")

    @property
    def tail(self) -> bytes:
        return self._tail

    async def stop(self) -> None:
        self.quit()
        if self.proc is not None and self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        loop = asyncio.get_running_loop()
        for fd in (self.master, self.report_r):
            if fd >= 0:
                loop.remove_reader(fd)
                os.close(fd)
        if self.control_w >= 0:
            os.close(self.control_w)
        self.master = self.report_r = self.control_w = -1


async def textual_import_s(pycache: Path) -> float:
    """Baseline of the cold start: a fresh interpreter that imports textual.app."""
    env = child_env(pycache)
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import textual.app", stdin=asyncio.subprocess.DEVNULL, env=env
    )
    if await proc.wait() != 0:
        raise RuntimeError("importing textual.app failed")
    return time.monotonic() - start

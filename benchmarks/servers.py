"""Dev servers for the benchmarks: each one a ``peerwave-tui devserver`` child process.

A server in its own process keeps its work off the measured client's CPU time and
event loop (the issue asks for exactly that). ``freeze()`` (SIGSTOP) turns a running
server into one that accepts TCP connections (the kernel still completes handshakes
into the listen backlog) but never answers: the "server that never answers" of the
scale benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

from peerwave_tui.devserver.db import DB_FILE_NAME

START_TIMEOUT = 60.0  # generous: 20 servers start at once on 2 shared cores
STOP_TIMEOUT = 10.0


class DevServerError(RuntimeError):
    """A dev server did not start."""


class DevServer:
    """One dev server process on 127.0.0.1 with its own data directory."""

    def __init__(self, work_dir: Path, name: str = "bench") -> None:
        self.work_dir = work_dir
        self.name = name
        self.data_dir = work_dir / "data"
        self.otp_file = work_dir / "otp.txt"
        self.log_file = work_dir / "devserver.log"
        self.url = ""
        self._proc: asyncio.subprocess.Process | None = None
        self.frozen = False

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise DevServerError("not started")
        return self._proc.pid

    async def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "peerwave_tui",
            "devserver",
            "--port",
            "0",
            "--name",
            self.name,
            "--data",
            str(self.data_dir),
            "--otp-file",
            str(self.otp_file),
            "--log-file",
            str(self.log_file),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            line = b""
        text = line.decode("utf-8", "replace").strip()
        if not text.startswith("listening on http://"):
            await self.stop()
            raise DevServerError(f"dev server {self.name} did not start ({text!r})")
        self.url = text.removeprefix("listening on ").strip()

    async def read_otp(self, email: str, timeout: float = 30.0) -> str:
        """The newest OTP the server wrote for ``email`` (``--otp-file``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.otp_file.exists():
                for line in reversed(self.otp_file.read_text("utf-8").splitlines()):
                    address, _, code = line.partition(" ")
                    if address == email.lower() and code.strip():
                        return code.strip()
            await asyncio.sleep(0.02)
        raise DevServerError(f"no OTP for {email} from {self.name}")

    def pending_count(self, user_id: str, device_id: int) -> int:
        """Items still stored for one device, read straight from the server's database
        (read-only): the proof that a drain deleted everything."""
        db = self.data_dir / DB_FILE_NAME
        if not db.exists():
            raise DevServerError(f"no database in {self.data_dir}")
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            row = conn.execute(
                "SELECT COUNT(*) FROM items WHERE recipient = ? AND recipient_device = ?",
                (user_id, device_id),
            ).fetchone()
        finally:
            conn.close()
        return int(row[0])

    def freeze(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing is ever answered."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(signal.SIGCONT)
            self.frozen = False

    async def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self._proc = None


async def start_servers(base: Path, count: int, prefix: str = "srv") -> list[DevServer]:
    """Start ``count`` servers at once; on any failure, stop those that did start."""
    servers = [DevServer(base / f"{prefix}{i}", name=f"{prefix}{i}") for i in range(count)]
    results = await asyncio.gather(*(s.start() for s in servers), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        await stop_servers(servers)
        raise failures[0]
    return servers


async def stop_servers(servers: list[DevServer]) -> None:
    await asyncio.gather(*(s.stop() for s in servers), return_exceptions=True)

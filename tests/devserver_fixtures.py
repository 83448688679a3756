"""Helpers to run PeerWave dev servers in tests, written with plain aiohttp / python-socketio.

Nothing here imports the client code (``peerwave_tui.api``, ``socket``, ``client``, ...):
these helpers speak the protocol of ``protocol.md`` directly, so a test that uses them
doubts the client and the dev server independently.

In-process server (fast; use it unless the test must kill or freeze the server)::

    async with running_devserver(tmp_path) as server:
        account = await create_account(server.url, server)
        otp = await server.read_otp("someone@example.org")

Subprocess server (``SIGKILL``, ``SIGSTOP``/``SIGCONT``, restart on the same port and data)::

    async with DevServerProcess(tmp_path / "srv") as proc:
        await proc.start()
        proc.stop(); proc.cont(); proc.kill(); await proc.restart()

Signed HTTP and sockets for an account::

    http = SignedHttp(server.url, account)          # async with, or await http.close()
    status, body = await http.get("/people/list")
    probe = SocketProbe(server.url, account)
    await probe.connect(); await probe.authenticate(); await probe.ready()
    item = await probe.wait_for("receiveItem")

Time: ``running_devserver(tmp_path, clock=ManualClock())`` runs the server on a clock
that moves only with ``clock.advance(seconds)``; pass the same clock to ``create_account``,
``SignedHttp`` and ``SocketProbe`` so their timestamps match the server's.

Registration needs a cookie jar that accepts cookies from IP addresses:
``aiohttp.CookieJar(unsafe=True)`` (the default jar drops cookies from 127.0.0.1).
The signing and socket helpers live in ``tests.devserver.clients`` and are re-exported here.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from peerwave_tui.devserver.app import DevServer
from peerwave_tui.devserver.config import DevServerConfig
from tests.devserver.clients import (
    SOCKET_AUTH_PATH,
    ReadyAccount,
    SignedHttp,
    SocketProbe,
    sign,
    signed_headers,
)

__all__ = [
    "SOCKET_AUTH_PATH",
    "DevServerProcess",
    "ManualClock",
    "OtpSource",
    "ReadyAccount",
    "RunningDevServer",
    "SignedHttp",
    "SocketProbe",
    "add_device",
    "create_account",
    "login_with_backup_code",
    "read_otp_file",
    "register_account",
    "running_devserver",
    "sign",
    "signed_headers",
]

REPO_ROOT = Path(__file__).resolve().parent.parent


class OtpSource(Protocol):
    async def read_otp(self, email: str, timeout: float = 10) -> str: ...


class ManualClock:
    """A clock for ``DevServerConfig(clock=...)`` that moves only when told to."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def ms(self) -> int:
        return int(self.now * 1000)


# --------------------------------------------------------------------------- OTPs


async def read_otp_file(path: Path, email: str, timeout: float = 10) -> str:
    """Poll an ``--otp-file`` until it has a line for ``email``; return the latest code."""
    deadline = time.monotonic() + timeout
    email = email.lower()
    while True:
        if path.exists():
            codes = [
                parts[1]
                for parts in (line.split(" ") for line in path.read_text("utf-8").splitlines())
                if len(parts) == 2 and parts[0] == email
            ]
            if codes:
                return codes[-1]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no OTP for {email} in {path} after {timeout}s")
        await asyncio.sleep(0.05)


# ------------------------------------------------------------- in-process server


@dataclass
class RunningDevServer:
    """An in-process dev server: ``url``, ``port``, ``otp_file`` and ``read_otp``."""

    server: DevServer
    otp_file: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    async def read_otp(self, email: str, timeout: float = 10) -> str:
        return await read_otp_file(self.otp_file, email, timeout)


@asynccontextmanager
async def running_devserver(
    tmp_dir: Path, config: DevServerConfig | None = None, **overrides: Any
) -> AsyncIterator[RunningDevServer]:
    """Run a :class:`DevServer` on 127.0.0.1, a free port, with an OTP file in ``tmp_dir``.

    ``overrides`` are ``DevServerConfig`` fields (``clock=``, ``data_dir=``,
    ``quirk_offline_skdm_500=True``, ...). The server stops when the block ends.
    """
    tmp_dir.mkdir(parents=True, exist_ok=True)
    otp_file = tmp_dir / f"otp-{uuid.uuid4().hex[:8]}.txt"
    base = config or DevServerConfig()
    settings = {"host": "127.0.0.1", "port": 0, "otp_file": otp_file, **overrides}
    server = DevServer(replace(base, **settings))
    await server.start()
    try:
        yield RunningDevServer(server, settings["otp_file"])
    finally:
        await server.stop()


# ---------------------------------------------------------------- subprocess server


class DevServerProcess:
    """``python -m peerwave_tui devserver`` in a subprocess, for kill/freeze/restart tests.

    The first :meth:`start` picks a free port (``--port 0``) unless ``port`` is given;
    :meth:`restart` reuses that port and the same ``--data`` directory. Standard error
    (the log) goes to ``log_file``; :meth:`log_text` reads it.
    """

    def __init__(
        self,
        work_dir: Path,
        extra_args: Sequence[str] = (),
        *,
        port: int = 0,
        data_dir: Path | None = None,
        otp_file: Path | None = None,
    ) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir or work_dir / "data"
        self.otp_file = otp_file or work_dir / "otp.txt"
        self.log_file = work_dir / "devserver.log"
        self.extra_args = list(extra_args)
        self.port = port
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "peerwave_tui", "devserver",
            "--port", str(self.port),
            "--data", str(self.data_dir),
            "--otp-file", str(self.otp_file),
            *self.extra_args,
        ]  # fmt: skip

    async def start(self, timeout: float = 30) -> None:
        """Spawn the server and wait for its ``listening on`` line."""
        assert self.proc is None or self.proc.returncode is not None, "already running"
        with self.log_file.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                cwd=REPO_ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            self.kill()
            raise TimeoutError(
                f"dev server not ready after {timeout}s:\n{self.log_text()}"
            ) from None
        text = line.decode("utf-8", "replace").strip()
        if not text.startswith("listening on http://"):
            await self.proc.wait()
            raise RuntimeError(f"dev server failed to start ({text!r}):\n{self.log_text()}")
        self.port = int(text.rsplit(":", 1)[1])

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, like a crash or power loss."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGCONT)  # a frozen process must still die
            self.proc.kill()

    def stop(self) -> None:
        """SIGSTOP: the server freezes; TCP connections stay open but nothing answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def cont(self) -> None:
        """SIGCONT: resume after :meth:`stop`."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    async def signal_and_wait(self, signum: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send ``signum`` (SIGTERM, SIGINT) and return the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signum)
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def restart(self, timeout: float = 30) -> None:
        """Kill (if running) and start again on the same port with the same data."""
        await self.close()
        await self.start(timeout)

    async def close(self) -> None:
        """Kill if still running and reap the process; idempotent."""
        if self.proc is None:
            return
        self.kill()
        await self.proc.wait()
        self.proc = None

    def log_text(self) -> str:
        return self.log_file.read_text("utf-8", "replace") if self.log_file.exists() else ""

    async def read_otp(self, email: str, timeout: float = 10) -> str:
        return await read_otp_file(self.otp_file, email, timeout)

    async def __aenter__(self) -> DevServerProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# ----------------------------------------------------------------------- accounts


async def _expect(response: aiohttp.ClientResponse, *statuses: int) -> Any:
    text = await response.text()
    if response.status not in statuses:
        raise AssertionError(f"{response.method} {response.url.path}: {response.status} {text}")
    return json.loads(text) if text else None


async def register_account(
    base_url: str,
    otp_source: OtpSource,
    *,
    email: str | None = None,
    display_name: str | None = None,
    client_id: str | None = None,
) -> tuple[str, str, list[str]]:
    """Steps 1–4 of protocol.md 2.1 on a cookie session; returns (email, name, backup codes)."""
    tag = uuid.uuid4().hex[:10]
    email = email or f"user-{tag}@example.org"
    display_name = display_name or f"User {tag}"
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url, cookie_jar=jar) as http:
        await _expect(await http.post("/register", json={"email": email}), 200)
        otp = await otp_source.read_otp(email)
        body: dict[str, Any] = {"email": email, "otp": otp}
        if client_id is not None:
            body["clientId"] = client_id
        await _expect(await http.post("/otp", json=body), 200, 202)
        codes = (await _expect(await http.get("/backupcode/list"), 200))["backupCodes"]
        profile = {"displayName": display_name}
        await _expect(await http.post("/client/profile/setup", json=profile), 200)
    return email, display_name, list(codes)


async def login_with_backup_code(
    base_url: str, email: str, code: str, client_id: str, device_info: str = "devserver tests"
) -> dict[str, Any]:
    """``POST /backupcode/mobile-verify``; returns the response body."""
    body = {"email": email, "backupCode": code, "clientId": client_id, "deviceInfo": device_info}
    async with aiohttp.ClientSession(base_url) as http:
        result: dict[str, Any] = await _expect(
            await http.post("/backupcode/mobile-verify", json=body), 200
        )
    return result


async def create_account(
    base_url: str,
    otp_source: OtpSource,
    *,
    email: str | None = None,
    display_name: str | None = None,
    client_id: str | None = None,
    clock: Callable[[], float] = time.time,
) -> ReadyAccount:
    """register → OTP → backup codes → profile → mobile-verify, over plain HTTP.

    ``otp_source`` is anything with ``await read_otp(email)`` (a :class:`RunningDevServer`
    or a :class:`DevServerProcess`). The device_id comes from ``GET /client/list``
    (signed with ``clock``: pass the server's ManualClock if it runs on one).
    """
    client_id = client_id or str(uuid.uuid4())
    email, name, codes = await register_account(
        base_url, otp_source, email=email, display_name=display_name, client_id=client_id
    )
    login = await login_with_backup_code(base_url, email, codes[0], client_id)
    account = ReadyAccount(
        email=email,
        display_name=name,
        user_id=login["userId"],
        client_id=client_id,
        session_secret=login["sessionSecret"],
        device_id=0,
        backup_codes=codes[1:],
    )
    async with SignedHttp(base_url, account, clock) as http:
        status, body = await http.get("/client/list")
    assert status == 200, f"GET /client/list after login: {status} {body}"
    account.device_id = next(c["device_id"] for c in body["clients"] if c["clientid"] == client_id)
    return account


async def add_device(
    base_url: str, account: ReadyAccount, clock: Callable[[], float] = time.time
) -> ReadyAccount:
    """Log the same user in on a new clientId with one of its backup codes."""
    client_id = str(uuid.uuid4())
    code = account.backup_codes.pop(0)
    login = await login_with_backup_code(base_url, account.email, code, client_id)
    device = replace(account, client_id=client_id, session_secret=login["sessionSecret"])
    async with SignedHttp(base_url, device, clock) as http:
        _, body = await http.get("/client/list")
    device.device_id = next(c["device_id"] for c in body["clients"] if c["clientid"] == client_id)
    return device

"""``peerwave-tui demo``: two local dev servers and a demo contact on each.

"Demo North" has Nora and "Demo South" has Sol; each is a real client (real keys,
real crypto over real sockets, in this process) that answers every message with
``echo: <text>``. The dev servers run as child processes so their work never competes
with the UI's event loop.

Without ``--home`` everything lives in a temporary directory that is removed on exit
and keys are throwaway in-memory keys. With ``--home`` the servers keep their state
under the home and reuse their ports, so the saved accounts stay valid next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from peerwave_tui import events as ev
from peerwave_tui.errors import PeerwaveError
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import AccountRecord, Contact, Direction, KeyMode, MessageKind
from peerwave_tui.paths import Paths
from peerwave_tui.storage.custody import KeyCustody
from peerwave_tui.storage.fs import ensure_private_dir, write_private_file

log = logging.getLogger(__name__)

USER_EMAIL = "you@demo.invalid"
USER_NAME = "You"
SERVER_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class DemoServerSpec:
    key: str
    name: str
    contact_name: str
    contact_email: str


DEMO_SERVERS = (
    DemoServerSpec("north", "Demo North", "Nora", "nora@demo.invalid"),
    DemoServerSpec("south", "Demo South", "Sol", "sol@demo.invalid"),
)

Progress = Callable[[str], None]


class DemoServerProcess:
    """One ``peerwave-tui devserver`` child process."""

    def __init__(self, spec: DemoServerSpec, data_dir: Path, port: int) -> None:
        self.spec = spec
        self.data_dir = data_dir
        self.port = port
        self.otp_file = data_dir / "otp.txt"
        self.url = ""
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        ensure_private_dir(self.data_dir)
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "peerwave_tui",
            "devserver",
            "--port",
            str(self.port),
            "--name",
            self.spec.name,
            "--data",
            str(self.data_dir / "state"),
            "--otp-file",
            str(self.otp_file),
            "--log-file",
            str(self.data_dir / "devserver.log"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # Ctrl+C in the terminal goes to the app only
        )
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), SERVER_START_TIMEOUT)
        except TimeoutError:
            line = b""
        text = line.decode("utf-8", errors="replace").strip()
        if not text.startswith("listening on "):
            await self.stop()
            raise PeerwaveError(
                f"The {self.spec.name} server did not start"
                + (f" (port {self.port} may be in use)." if self.port else ".")
            )
        self.url = text.removeprefix("listening on ").strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    async def read_otp(self, email: str, timeout: float = 15.0) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.otp_file.exists():
                for line in reversed(self.otp_file.read_text(encoding="utf-8").splitlines()):
                    address, _, code = line.partition(" ")
                    if address == email and code.strip():
                        return code.strip()
            await asyncio.sleep(0.1)
        raise PeerwaveError(f"The {self.spec.name} server sent no OTP.")

    async def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


@dataclass
class EchoContact:
    """A demo contact: a real client that answers every message."""

    spec: DemoServerSpec
    manager: SignalClientManager
    account: AccountRecord | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def run(self) -> None:
        async for event in self.manager.events():
            if not isinstance(event, ev.MessageReceived) or self.account is None:
                continue
            message = event.message
            if message.direction is not Direction.IN or message.kind is not MessageKind.TEXT:
                continue
            try:
                await self.manager.mark_read(self.account.account_id, message.conversation_id)
                await self.manager.send(
                    self.account.account_id, message.conversation_id, f"echo: {message.text}"
                )
            except PeerwaveError as exc:
                log.info("demo contact could not answer: %s", type(exc).__name__)


class DemoEnvironment:
    """Servers and contacts of one demo run; the user's manager is passed in."""

    def __init__(self, paths: Paths, *, persistent: bool) -> None:
        self.paths = paths
        self.persistent = persistent
        self.root = paths.data_dir / "demo"
        self.servers: list[DemoServerProcess] = []
        self.contacts: list[EchoContact] = []

    def _saved_ports(self) -> dict[str, int]:
        path = self.root / "ports.json"
        if not (self.persistent and path.exists()):
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, int)}

    async def start(self, user: SignalClientManager, progress: Progress) -> list[Contact]:
        """Start servers and contacts, register the user where needed; return the demo
        contacts (one per server, in server order) as the user's manager sees them."""
        ensure_private_dir(self.root)
        ports = self._saved_ports()
        progress("Starting the demo servers…")
        self.servers = [
            DemoServerProcess(spec, self.root / spec.key, ports.get(spec.key, 0))
            for spec in DEMO_SERVERS
        ]
        await asyncio.gather(*(s.start() for s in self.servers))
        if self.persistent:
            write_private_file(
                self.root / "ports.json",
                json.dumps({s.spec.key: s.port for s in self.servers}).encode(),
            )
        progress("Setting up the demo contacts…")
        await asyncio.gather(*(self._start_contact(server) for server in self.servers))
        await user.start()
        contacts = []
        for server in self.servers:
            progress(f"Creating your account on {server.spec.name}…")
            account = next((a for a in user.accounts() if a.server_url == server.url), None)
            if account is None:
                pending = await user.register_start(server.url, USER_EMAIL)
                otp = await server.read_otp(USER_EMAIL)
                result = await user.register_finish(pending, otp, USER_NAME, "you")
                account = result.account
            contact = await self._find_contact(user, account, server.spec)
            await user.open_conversation(account.account_id, contact)
            contacts.append(contact)
        return contacts

    async def _start_contact(self, server: DemoServerProcess) -> None:
        home = self.root / "contacts" / server.spec.key
        paths = Paths.from_home(home).ensure()
        # The contacts' keys are demo keys: in memory for a throwaway demo, else under a
        # fixed passphrase so that a kept demo home can be reopened.
        if self.persistent:
            from peerwave_tui.storage.passphrase import PassphraseSource

            custody = KeyCustody(
                paths,
                KeyMode.PASSPHRASE,
                PassphraseSource.fixed(f"peerwave-tui demo contact {server.spec.key}"),
            )
        else:
            custody = KeyCustody(paths, KeyMode.MEMORY)
        manager = SignalClientManager(paths, custody)
        contact = EchoContact(server.spec, manager)
        contact.task = asyncio.create_task(contact.run(), name=f"demo:{server.spec.key}")
        self.contacts.append(contact)
        await manager.start()
        existing = next((a for a in manager.accounts() if a.server_url == server.url), None)
        if existing is None:
            pending = await manager.register_start(server.url, server.spec.contact_email)
            otp = await server.read_otp(server.spec.contact_email)
            result = await manager.register_finish(
                pending, otp, server.spec.contact_name, server.spec.contact_name.lower()
            )
            existing = result.account
        contact.account = existing

    async def _find_contact(
        self, user: SignalClientManager, account: AccountRecord, spec: DemoServerSpec
    ) -> Contact:
        for _ in range(50):
            people = await user.people(account.account_id)
            for person in people:
                if person.display_name == spec.contact_name:
                    return person
            await asyncio.sleep(0.1)
        raise PeerwaveError(f"{spec.contact_name} is not on {spec.name}.")

    async def aclose(self) -> None:
        for contact in self.contacts:
            if contact.task is not None:
                contact.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await contact.task
            await contact.manager.aclose()
        self.contacts.clear()
        await asyncio.gather(*(s.stop() for s in self.servers), return_exceptions=True)
        self.servers.clear()


def demo_paths(home: str | os.PathLike[str] | None) -> tuple[Paths, bool]:
    """The demo's paths: the given home (kept), or a new temporary one (removed)."""
    if home:
        return Paths.from_home(Path(home)).ensure(), True
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="peerwave-tui-demo-"))
    return Paths.from_home(root).ensure(), False

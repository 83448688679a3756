"""``peerwave-tui demo``: two local dev servers and a demo contact on each.

"Demo North" has Nora and "Demo South" has Sol; each is a real client (real keys,
real crypto over real sockets, in this process) that answers every message with
``echo: <text>``, in the 1:1 conversation and in the contact's channel ("Nora's
lounge", "Sol's lounge"), which the user's account joins. The dev servers run as child processes so their work never competes
with the UI's event loop; on Linux they are also told to stop if this process dies
without stopping them.

Without ``--home`` everything lives in a temporary directory (the caller removes it on
exit) and keys are throwaway in-memory keys. With ``--home`` the servers keep their
state under the home and reuse their ports, so the saved accounts stay valid next time;
the user's keys then follow the normal key custody (keyring, or a passphrase).
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
from typing import Any

from peerwave_tui import events as ev
from peerwave_tui.errors import PeerwaveError
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import (
    AccountRecord,
    ConnectionState,
    Contact,
    Conversation,
    Direction,
    KeyMode,
    MessageKind,
)
from peerwave_tui.paths import Paths
from peerwave_tui.storage.custody import KeyCustody
from peerwave_tui.storage.fs import ensure_private_dir, write_private_file

log = logging.getLogger(__name__)

USER_EMAIL = "you@demo.invalid"
USER_NAME = "You"
SERVER_START_TIMEOUT = 30.0
SERVER_STOP_TIMEOUT = 2.0  # then SIGKILL: quitting must stay quick
CONTACT_TIMEOUT = 30.0  # for the user's account to come up and list the demo contact

CONTACTS_NOTE = "Demo · Nora (Alt+1) and Sol (Alt+2) answer every message"
THROWAWAY_NOTE = f"{CONTACTS_NOTE} · throwaway keys held in memory, deleted on quit"

Progress = Callable[[str], None]


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


def _parent_death_signal() -> Callable[[], None] | None:
    """Linux: a ``preexec_fn`` that makes the child get SIGTERM when we die (a crash or
    SIGKILL would otherwise leave the dev servers running)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))

    return preexec


class DemoServerProcess:
    """One ``peerwave-tui devserver`` child process."""

    def __init__(self, spec: DemoServerSpec, data_dir: Path, port: int) -> None:
        self.spec = spec
        self.data_dir = data_dir
        self.port = port
        self.otp_file = data_dir / "otp.txt"
        self.url = ""
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        ensure_private_dir(self.data_dir)
        kwargs: dict[str, Any] = {}
        preexec = _parent_death_signal()
        if preexec is not None:
            kwargs["preexec_fn"] = preexec
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
            **kwargs,
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

    async def stop(self, *, graceful: bool = True) -> None:
        """SIGTERM (SIGKILL if it is not gone in time), or SIGKILL at once when nothing
        it holds is kept (a throwaway demo): quitting must stay quick."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        try:
            await asyncio.wait_for(proc.wait(), SERVER_STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    def kill_now(self) -> None:
        """Last resort without an event loop (the app ended before ``stop`` ran)."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(proc.pid, 0)


@dataclass
class EchoContact:
    """A demo contact: a real client that answers every message."""

    spec: DemoServerSpec
    server: DemoServerProcess
    manager: SignalClientManager
    account: AccountRecord | None = None
    backup_codes: list[str] = field(default_factory=list, repr=False)  # this run only
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def run(self) -> None:
        async for event in self.manager.events():
            if not isinstance(event, ev.MessageReceived) or self.account is None:
                continue
            message = event.message
            if event.account_id != self.account.account_id:
                continue
            if message.direction is not Direction.IN or message.kind is not MessageKind.TEXT:
                continue
            try:
                await self.manager.mark_read(self.account.account_id, message.conversation_id)
                await self.manager.send(
                    self.account.account_id, message.conversation_id, f"echo: {message.text}"
                )
            except PeerwaveError as exc:
                log.info("demo contact could not answer: %s", type(exc).__name__)

    async def say(self, to: Contact, text: str) -> None:
        """Write to someone first (not an answer)."""
        if self.account is None:
            raise PeerwaveError(f"{self.spec.contact_name} is not set up.")
        conversation = await self.manager.open_conversation(self.account.account_id, to)
        await self.manager.send(self.account.account_id, conversation.conversation_id, text)

    async def reinstall(self) -> AccountRecord:
        """The contact "reinstalls the app": this device is removed from the server and
        a fresh install logs in with a backup code. The server gives it the same device
        number with a new identity key: a real identity change for everyone who talked
        to the contact. Possible once per backup code kept from this run's registration."""
        if self.account is None or not self.backup_codes:
            raise PeerwaveError(
                f"{self.spec.contact_name} has no backup code left in this demo run."
            )
        old = self.account
        self.account = None  # no answers from a device that is going away
        await self.manager.remove_account(old.account_id)
        self.account = await self.manager.login(
            self.server.url, self.spec.contact_email, self.backup_codes.pop(0)
        )
        return self.account


class DemoEnvironment:
    """Servers and contacts of one demo run; the user's manager is passed in.

    Implements the app's ``Startup`` (``ui/startup.py``): ``start`` brings everything up
    and starts the user's manager; ``aclose`` stops what was started."""

    def __init__(self, paths: Paths, *, persistent: bool) -> None:
        self.paths = paths
        self.persistent = persistent
        self.root = paths.data_dir / "demo"
        self.servers: list[DemoServerProcess] = []
        self.contacts: list[EchoContact] = []

    @property
    def note(self) -> str:
        if self.persistent:
            home = self.paths.home or self.paths.data_dir
            return f"{CONTACTS_NOTE} · kept in {home}"
        return THROWAWAY_NOTE

    def _saved_ports(self) -> dict[str, int]:
        path = self.root / "ports.json"
        if not (self.persistent and path.exists()):
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, int)}

    async def start(
        self, user: SignalClientManager, progress: Progress
    ) -> list[tuple[str, Conversation]]:
        """Start servers and contacts, start the user's manager, register the user
        where needed; return the conversation with each server's demo contact, in
        server order, as ``(account_id, conversation)``."""
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
        progress("Setting up the demo contacts Nora and Sol…")
        # One after the other: each may run the passphrase KDF, and two Argon2id runs
        # at once in one process can deadlock (cryptography 50 / OpenSSL).
        for server in self.servers:
            await self._start_contact(server, progress)
        await user.start()
        opened: list[tuple[str, Conversation]] = []
        for server in self.servers:
            account = next((a for a in user.accounts() if a.server_url == server.url), None)
            if account is None:
                progress(f"Creating your account on {server.spec.name}…")
                pending = await user.register_start(server.url, USER_EMAIL)
                otp = await server.read_otp(USER_EMAIL)
                result = await user.register_finish(pending, otp, USER_NAME, "you")
                account = result.account
            else:
                progress(f"Opening your account on {server.spec.name}…")
            contact = await self._find_contact(user, account, server.spec, progress)
            await self._join_lounge(user, account, server.spec, progress)
            conversation = await user.open_conversation(account.account_id, contact)
            opened.append((account.account_id, conversation))
        return opened

    async def _start_contact(self, server: DemoServerProcess, progress: Progress) -> None:
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
        contact = EchoContact(server.spec, server, manager)
        contact.task = asyncio.create_task(contact.run(), name=f"demo:{server.spec.key}")
        self.contacts.append(contact)
        await manager.start()
        existing = next((a for a in manager.accounts() if a.server_url == server.url), None)
        if existing is not None:
            await _people_when_open(manager, existing.account_id, server.spec.name, progress)
        else:
            pending = await manager.register_start(server.url, server.spec.contact_email)
            otp = await server.read_otp(server.spec.contact_email)
            result = await manager.register_finish(
                pending, otp, server.spec.contact_name, server.spec.contact_name.lower()
            )
            existing = result.account
            # The codes still usable (the registration's first login used one).
            contact.backup_codes = list(result.backup_codes)
        contact.account = existing

    async def _join_lounge(
        self,
        user: SignalClientManager,
        account: AccountRecord,
        spec: DemoServerSpec,
        progress: Progress,
    ) -> None:
        """The demo contact's channel (made by the contact the first time), with the
        user's account in it: the contact answers there too."""
        echo = next((c for c in self.contacts if c.spec is spec), None)
        if echo is None or echo.account is None:
            return
        name = lounge_name(spec)
        owned = await echo.manager.channels(echo.account.account_id)
        lounge = next((c for c in owned if c.name == name), None)
        if lounge is None:
            lounge = await echo.manager.create_channel(
                echo.account.account_id, name, f"Talk to {spec.contact_name} in a group"
            )
        mine = await user.channels(account.account_id)
        if not any(c.channel_id == lounge.channel_id for c in mine):
            progress(f"Joining {name} on {spec.name}…")
            await user.join_channel(account.account_id, lounge.channel_id)

    async def _find_contact(
        self,
        user: SignalClientManager,
        account: AccountRecord,
        spec: DemoServerSpec,
        progress: Progress,
    ) -> Contact:
        """The demo contact as the user's account sees it (the contact registered just
        before, so the people list may need a moment to show them)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONTACT_TIMEOUT
        while True:
            people = await _people_when_open(user, account.account_id, spec.name, progress)
            for person in people:
                if person.display_name == spec.contact_name:
                    return person
            if loop.time() > deadline:
                raise PeerwaveError(f"{spec.contact_name} is not on {spec.name}.")
            await asyncio.sleep(0.2)

    async def aclose(self) -> None:
        contacts, self.contacts = self.contacts, []
        for contact in contacts:
            if contact.task is not None:
                contact.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await contact.task
        # All at once (quitting must be quick). The server list stays: ``kill_remaining``
        # checks it again after the loop is gone.
        await asyncio.gather(
            *(c.manager.aclose() for c in contacts),
            *(s.stop(graceful=self.persistent) for s in self.servers),
            return_exceptions=True,
        )

    def kill_remaining(self) -> None:
        """Without an event loop: kill any server ``aclose`` did not stop."""
        for server in self.servers:
            server.kill_now()


async def _people_when_open(
    manager: SignalClientManager, account_id: str, server_name: str, progress: Progress
) -> list[Contact]:
    """The account's people list, once its store is open: a saved account may still be
    opening, or be locked until the user gives its passphrase on the unlock screen (no
    deadline while it is locked)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONTACT_TIMEOUT
    changes = manager.events()  # registered now: no state change is missed
    try:
        while True:
            state, detail = manager.connection_state(account_id)
            if state is ConnectionState.ERROR:
                raise PeerwaveError(
                    f"The demo account on {server_name} cannot start: {detail or 'error'}"
                )
            if state is ConnectionState.LOCKED:
                progress(
                    f"Your demo account on {server_name} is locked: enter its passphrase "
                    "(Ctrl+P → Unlock)."
                )
                await _next_state_change(changes, account_id, None)
                deadline = loop.time() + CONTACT_TIMEOUT
                continue
            try:
                return await manager.people(account_id)
            except PeerwaveError as exc:
                # Still opening (no client yet), or its server just came up.
                if loop.time() > deadline:
                    raise PeerwaveError(
                        f"The demo account on {server_name} did not come up: {exc}"
                    ) from None
            await _next_state_change(changes, account_id, 0.2)
    finally:
        close = getattr(changes, "close", None)
        if close is not None:
            close()


async def _next_state_change(changes: Any, account_id: str, timeout: float | None) -> None:
    """Wait for a connection change of this account (or ``timeout`` seconds)."""

    async def wait() -> None:
        async for event in changes:
            if isinstance(event, ev.ConnectionChanged) and event.account_id == account_id:
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wait(), timeout)


def lounge_name(spec: DemoServerSpec) -> str:
    return f"{spec.contact_name}'s lounge"


def demo_paths(home: str | os.PathLike[str] | None) -> tuple[Paths, bool]:
    """The demo's paths: the given home (kept), or a new temporary one (removed by the
    caller when the demo ends)."""
    if home:
        return Paths.from_home(Path(home)).ensure(), True
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="peerwave-tui-demo-"))
    return Paths.from_home(root).ensure(), False

"""The real world for UI flow tests: the real ``SignalClientManager``, real dev servers
(in-process, as child processes, or the demo's), and real peers who write back.

Every key here is a throwaway in-memory key unless a test asks for passphrase mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from peerwave_tui import events as ev
from peerwave_tui.demo import DemoEnvironment
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import AccountRecord, Contact, KeyMode
from peerwave_tui.paths import Paths
from peerwave_tui.settings import Settings
from peerwave_tui.storage.custody import KeyCustody
from peerwave_tui.storage.passphrase import PassphraseSource
from peerwave_tui.ui.app import PeerwaveApp, make_app
from peerwave_tui.ui.widgets.server_tabs import tab_label


def real_manager(
    home: Path,
    mode: KeyMode | None = KeyMode.MEMORY,
    *,
    passphrase: str | None = None,
    keyring_backend: Any | None = None,
) -> SignalClientManager:
    """A manager with its own home; MEMORY keys unless told otherwise."""
    paths = Paths.from_home(home).ensure()
    custody = KeyCustody(
        paths, mode, PassphraseSource.fixed(passphrase), keyring_backend=keyring_backend
    )
    return SignalClientManager(paths, custody)


def app_over(
    manager: Any, settings: Settings, paths: Paths | None = None, **options: Any
) -> PeerwaveApp:
    """The app over a real manager (or a ``LazyManager``; then give ``paths``), as
    ``peerwave-tui`` builds it, without a terminal's environment."""
    chosen: dict[str, Any] = {"env": {}}
    chosen.update(options)
    return make_app(settings, paths or manager.paths, manager=manager, **chosen)


def demo_app(
    home: Path, settings: Settings, *, kept: bool = False, passphrase: str | None = None
) -> tuple[PeerwaveApp, DemoEnvironment]:
    """The app as ``peerwave-tui demo`` builds it, in ``home``: throwaway keys, or with
    ``kept`` (``--home``) the normal custody, here passphrase mode (``passphrase`` as if
    from PEERWAVE_TUI_PASSPHRASE; None: only the unlock screen can give it)."""
    paths = Paths.from_home(home).ensure()
    environment = DemoEnvironment(paths, persistent=kept)
    if kept:
        custody = KeyCustody(paths, KeyMode.PASSPHRASE, PassphraseSource.fixed(passphrase))
    else:
        custody = KeyCustody(paths, KeyMode.MEMORY)
    manager = SignalClientManager(paths, custody)
    app = make_app(settings, paths, manager=manager, env={}, startup=environment)
    return app, environment


async def register(
    manager: SignalClientManager, server: Any, email: str, name: str, at_name: str | None = None
) -> tuple[AccountRecord, list[str]]:
    """Register through the manager (as the wizard does); the OTP comes from the server."""
    pending = await manager.register_start(server.url, email)
    result = await manager.register_finish(pending, await server.read_otp(email), name, at_name)
    return result.account, result.backup_codes


class Peer:
    """Someone else on a server: a real client in this process."""

    def __init__(self, manager: SignalClientManager, account: AccountRecord) -> None:
        self.manager = manager
        self.account = account
        self.received: list[ev.MessageReceived] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._collect(manager.events()))

    @classmethod
    async def join(cls, home: Path, server: Any, email: str, name: str) -> Peer:
        manager = real_manager(home)
        account, _codes = await register(manager, server, email, name)
        return cls(manager, account)

    @property
    def contact(self) -> Contact:
        assert self.account.user_id is not None
        return Contact(self.account.user_id, self.account.display_name or "?")

    async def _collect(self, events: AsyncIterator[ev.Event]) -> None:
        async for event in events:
            if isinstance(event, ev.MessageReceived):
                self.received.append(event)
                self._changed.set()

    async def say(self, to: Contact, text: str) -> None:
        conversation = await self.manager.open_conversation(self.account.account_id, to)
        await self.manager.send(self.account.account_id, conversation.conversation_id, text)

    async def wait_received(self, text: str, timeout: float = 30.0) -> None:
        async def scan() -> None:
            while not any(e.message.text == text for e in self.received):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(scan(), timeout)

    async def aclose(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        await self.manager.aclose()


@asynccontextmanager
async def peers() -> AsyncIterator[list[Peer]]:
    """A list to put peers in; every one is closed at the end."""
    joined: list[Peer] = []
    try:
        yield joined
    finally:
        for peer in joined:
            await peer.aclose()


def label(app: PeerwaveApp, account_id: str) -> str:
    return tab_label(app.main.tabs[account_id]).plain


def user_contact(account: AccountRecord) -> Contact:
    """The app's user, as a peer addresses them."""
    assert account.user_id is not None
    return Contact(account.user_id, account.display_name or "You")


def texts(app: PeerwaveApp) -> list[str]:
    pane = app.main.active_pane
    return [m.text for m in pane.message_view.messages] if pane is not None else []


def has_text(app: PeerwaveApp, text: str) -> Callable[[], bool]:
    return lambda: text in texts(app)


def screen_line(app: PeerwaveApp, text: str) -> str:
    """The line on screen that shows ``text`` ("" when none does)."""
    from tests.ui.conftest import screen_text

    return next((line for line in screen_text(app).splitlines() if text in line), "")

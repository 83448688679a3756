"""The Textual app: built by ``make_app`` for the CLI, the tests and the screenshots.

The app owns the manager's lifecycle (started in a worker after the first paint, closed
on exit), the bridge worker that turns core events into messages for the main screen,
the app-wide key bindings (priority bindings, each with an id for ``[keymap]``), themes
and notifications. Everything about servers and conversations happens in ``MainScreen``.

With a ``Startup`` (the demo) the app runs it instead of ``manager.start()``: its
progress shows on the main screen, and it is closed together with the manager on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import ClassVar

from rich.text import Text
from textual.app import App
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.theme import Theme
from textual.worker import Worker

from peerwave_tui.errors import NoSecureKeyringError, PeerwaveError, StoreWrongKeyError
from peerwave_tui.events import REASON_KEYRING_UNAVAILABLE
from peerwave_tui.manager_api import ManagerAPI
from peerwave_tui.models import AccountRecord, ConnectionState, utc_now
from peerwave_tui.paths import Paths
from peerwave_tui.settings import DEFAULT_THEME, Settings
from peerwave_tui.ui import heap
from peerwave_tui.ui.bridge import pump_events
from peerwave_tui.ui.channels import ChannelCommands
from peerwave_tui.ui.commands import (
    ActionCommands,
    ConversationCommands,
    ServerCommands,
    ThemeCommands,
)
from peerwave_tui.ui.keys import app_bindings, effective_keymap, fix_escape_digit_keys
from peerwave_tui.ui.notify import Notifier
from peerwave_tui.ui.screens.help import HelpScreen
from peerwave_tui.ui.screens.keyring_help import KeyringHelpScreen
from peerwave_tui.ui.screens.main import MainScreen
from peerwave_tui.ui.screens.unlock import UnlockScreen
from peerwave_tui.ui.screens.wizard import AddServerWizard
from peerwave_tui.ui.startup import OpenConversation, Startup
from peerwave_tui.ui.themes import PEERWAVE_THEMES, stylesheet_paths

log = logging.getLogger(__name__)

# The start-up waits for the first frame (importing the client stack in a thread would
# compete with drawing it for the one interpreter lock), but never longer than this.
FIRST_PAINT_WAIT = 2.0
CLOSE_MANAGER_TIMEOUT = 10.0  # seconds; closing must not keep the terminal hostage
CLOSE_STARTUP_TIMEOUT = 10.0


class PeerwaveApp(App[None], inherit_bindings=False):
    TITLE = "peerwave-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        *app_bindings(),
        Binding("ctrl+c", "help_quit", show=False, system=True),
    ]
    COMMANDS = {
        ServerCommands,
        ConversationCommands,
        ChannelCommands,
        ThemeCommands,
        ActionCommands,
    }

    def __init__(
        self,
        settings: Settings,
        paths: Paths,
        manager: ManagerAPI,
        *,
        env: Mapping[str, str] | None = None,
        today: Callable[[], date] = date.today,
        now: Callable[[], datetime] = utc_now,
        startup: Startup | None = None,
        freeze_heap: bool = False,
    ) -> None:
        fix_escape_digit_keys()  # before the driver parses a single key
        super().__init__(css_path=stylesheet_paths())
        self.settings = settings
        self.paths = paths
        self.manager = manager
        self.startup = startup
        for theme in PEERWAVE_THEMES:
            self.register_theme(theme)
        self.theme = settings.theme if settings.theme in self.available_themes else DEFAULT_THEME
        self.set_keymap(effective_keymap(settings.keymap))
        # A lambda, so tests can replace ``write_terminal`` on the instance.
        self.notifier = Notifier(
            settings,
            lambda sequence: self.write_terminal(sequence),
            os.environ if env is None else env,
        )
        self.main = MainScreen(
            manager,
            settings,
            self.notifier,
            save_settings=self.save_settings,
            today=today,
            now=now,
            note=startup.note if startup is not None else None,
        )
        self.started = asyncio.Event()  # set once saved accounts are shown
        self._close_task: asyncio.Future[None] | None = None
        self._start_worker: Worker[None] | None = None
        self._unlock_open = False
        self._freeze_heap = freeze_heap

    # --- lifecycle ------------------------------------------------------------------

    def get_default_screen(self) -> MainScreen:
        return self.main

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.run_worker(
            pump_events(self.manager, self.main.post_message),
            name="core-events",
            group="bridge",
            exit_on_error=False,
        )
        self._start_worker = self.run_worker(
            self._start(), name="start-manager", group="manager", exit_on_error=False
        )
        if not self.is_headless:
            self._quit_on_signals()

    def _quit_on_signals(self) -> None:
        """SIGTERM, and SIGHUP (the terminal went away), close everything like Ctrl+Q."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, self.call_later, self.action_quit)
            loop.add_signal_handler(signal.SIGHUP, self._terminal_gone)

    def _terminal_gone(self) -> None:
        """Nothing can be drawn or read any more: writing to a hung-up terminal fails,
        and Textual's output thread would then leave the app waiting for ever on its way
        out. The standard streams go to /dev/null; then everything closes as usual."""
        try:
            null = os.open(os.devnull, os.O_RDWR)
        except OSError:
            null = None
        if null is not None:
            for stream in (0, 1, 2):
                with contextlib.suppress(OSError):
                    os.dup2(null, stream)
            os.close(null)
        # The output thread may have died on its first failed write already; its queue
        # would fill and block the loop. (Private to Textual, which is pinned.)
        driver = self._driver
        if driver is not None and hasattr(driver, "_writer_thread"):
            driver._writer_thread = _DiscardedOutput()  # type: ignore[attr-defined]
        self.call_later(self.action_quit)

    async def _start(self) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.main.painted.wait(), FIRST_PAINT_WAIT)
            await self._start_and_show()
        finally:
            self.started.set()
        if self._freeze_heap:
            heap.freeze_heap()
            self.run_worker(
                heap.freeze_when_connected(self._all_connected),
                name="freeze-heap",
                exit_on_error=False,
            )

    def _all_connected(self) -> bool:
        tabs = list(self.main.tabs.values())
        return bool(tabs) and all(tab.state is ConnectionState.CONNECTED for tab in tabs)

    async def _start_and_show(self) -> None:
        opened: list[OpenConversation] = []
        startup_failed = False
        if self.startup is None:
            # The saved servers' tabs show at once (``peerwave-tui`` reads them from
            # servers.toml while the client stack is still being imported).
            with contextlib.suppress(PeerwaveError):
                await self.main.load_accounts(listing=False)
            await self._start_manager()
        else:
            opened, startup_failed = await self._run_startup(self.startup)
        try:
            await self.main.load_accounts()
        except PeerwaveError as exc:
            self.notify(str(exc), title="Saved servers", severity="error", timeout=15)
        if not self.main.tabs:
            if not startup_failed:
                self.push_screen(AddServerWizard(self.manager, first_run=True), self._server_added)
            return
        if opened:
            await self.main.show_conversations(opened)
        elif self.main.active_pane is not None:
            self.main.active_pane.focus_default()
        self.request_unlock()

    async def _start_manager(self) -> None:
        self.main.show_progress("Starting…")
        try:
            await self._start_saved_accounts()
        finally:
            self.main.show_progress(None)

    async def _start_saved_accounts(self) -> None:
        try:
            await self.manager.start()
        except NoSecureKeyringError as exc:
            self.push_screen(KeyringHelpScreen(str(exc)))
        except PeerwaveError as exc:
            self.notify(str(exc), title="Starting", severity="error", timeout=15)
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            log.error("manager start failed: %s", type(exc).__name__, exc_info=exc)
            self.notify(
                "Starting failed unexpectedly; details are in the log.",
                severity="error",
                timeout=15,
            )

    async def _run_startup(self, startup: Startup) -> tuple[list[OpenConversation], bool]:
        """Run the startup (it starts the manager itself); (what to open, failed)."""
        # Saved accounts show at once (listing them does not start them), so a locked
        # store can be unlocked while the startup waits for it.
        with contextlib.suppress(PeerwaveError):
            await self.main.load_accounts()
        self.main.show_progress("Starting…")
        try:
            opened = await startup.start(self.manager, self.main.show_progress)
        except NoSecureKeyringError as exc:
            self.main.show_progress(str(exc), error=True)
            self.push_screen(KeyringHelpScreen(str(exc)))
        except PeerwaveError as exc:
            self.main.show_progress(f"{exc}  Press Ctrl+Q to quit.", error=True)
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            log.error("startup failed: %s", type(exc).__name__, exc_info=exc)
            self.main.show_progress(
                "Starting failed unexpectedly; details are in the log. Press Ctrl+Q to quit.",
                error=True,
            )
        else:
            self.main.show_progress(None)
            return opened, False
        return [], True

    async def close_manager(self) -> None:
        """Close every connection and store, then the startup's parts; once, however
        often it is called (a second Ctrl+Q waits for the first)."""
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close_everything())
        await asyncio.shield(self._close_task)

    async def _close_everything(self) -> None:
        started = time.monotonic()
        worker = self._start_worker
        if worker is not None and not worker.is_finished:
            worker.cancel()  # a startup still running must not start anything more
            with contextlib.suppress(Exception):  # WorkerCancelled, WorkerFailed
                await worker.wait()
        # At the same time: quitting must be quick, and each part closes its own
        # connections (a server going away under a closing client is harmless).
        parts = [_close_part("manager", self.manager.aclose(), CLOSE_MANAGER_TIMEOUT)]
        if self.startup is not None:
            parts.append(_close_part("startup", self.startup.aclose(), CLOSE_STARTUP_TIMEOUT))
        await asyncio.gather(*parts)
        log.info("closed in %.2f s", time.monotonic() - started)

    async def action_quit(self) -> None:
        log.info("quitting")
        await self.close_manager()
        self.exit()

    async def on_unmount(self) -> None:
        await self.close_manager()

    def on_app_focus(self) -> None:
        # Back in the terminal: the open conversation counts as read now (once Textual has
        # recorded the focus, hence call_later).
        self.call_later(self._read_open_conversation)

    def _read_open_conversation(self) -> None:
        pane = self.main.active_pane
        if pane is not None and pane.conversation_id is not None:
            self.main.mark_read_if_needed(pane.account_id, pane.conversation_id)

    def _handle_exception(self, error: Exception) -> None:
        # Textual would print a traceback with local variables (message text, keys) to the
        # terminal. Log it to the file instead and leave one line behind.
        log.error("unexpected error in the UI", exc_info=error)
        self._return_code = 1
        if self._exception is None:
            self._exception = error
            self._exception_event.set()
        self.panic(
            Text(
                f"peerwave-tui: an unexpected error occurred; details are in {self.paths.log_file}"
            )
        )

    # --- settings, themes, terminal -------------------------------------------------

    def save_settings(self) -> None:
        try:
            self.settings.save(self.paths.config_file)
        except (OSError, PeerwaveError) as exc:
            log.error("saving settings failed: %s", type(exc).__name__)
            self.notify(f"Settings could not be saved: {exc}", severity="error")

    def _theme_changed(self, theme: Theme) -> None:
        if self.settings.theme != theme.name:
            self.settings.theme = theme.name
            self.save_settings()

    def write_terminal(self, sequence: str) -> None:
        """Write an escape sequence (bell, OSC notification) through Textual's driver."""
        driver = self._driver
        if driver is not None and not self.is_headless:
            driver.write(sequence)

    # --- dialogs owned by the app ---------------------------------------------------

    def action_add_server(self) -> None:
        self.push_screen(AddServerWizard(self.manager), self._server_added)

    async def _server_added(self, account: AccountRecord | None) -> None:
        if account is None:
            return
        await self.main.ensure_tab(account)
        self.main.server_tabs.activate(account.account_id)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every toast, the screens' and widgets' too, lands here. Their text carries
        names and messages chosen by peers and servers: it is never read as markup
        (a name like "x[/]" would end the app, "[@click=...]" would be an action)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def request_unlock(self, *, asked: bool = False) -> None:
        """Ask for the passphrase if a store is locked (or say that none is). A store
        locked because no keyring is usable gets the keyring help instead: no
        passphrase opens a keyring-mode store."""
        locked = [tab for tab in self.main.tabs.values() if tab.state is ConnectionState.LOCKED]
        no_keyring = [t for t in locked if self._reason(t.account_id) == REASON_KEYRING_UNAVAILABLE]
        if no_keyring and not isinstance(self.screen, KeyringHelpScreen):
            self.push_screen(KeyringHelpScreen(no_keyring[0].detail))
        locked = [tab for tab in locked if tab not in no_keyring]
        if not locked and no_keyring:
            return
        if not locked:
            if asked:
                self.notify("Nothing is locked.", timeout=3)
            return
        if self._unlock_open:
            return
        self._unlock_open = True
        self.push_screen(
            UnlockScreen(self._unlock_with, [tab.name for tab in locked]), self._unlocked
        )

    def _reason(self, account_id: str) -> str | None:
        """``manager.connection_reason`` where the manager has it (a stand-in may not)."""
        reason = getattr(self.manager, "connection_reason", None)
        try:
            return reason(account_id) if reason is not None else None
        except Exception:  # noqa: BLE001 - a manager still being built knows no reason
            return None

    async def _unlock_with(self, passphrase: str) -> None:
        """``manager.unlock``, failing (for the unlock screen to say why) when a store it
        was asked to open is still locked. The manager raises ``WrongPassphraseError``
        for a wrong passphrase itself; the check after it covers a stand-in manager
        that only reports it as the account's state."""
        locked = [
            account_id
            for account_id, tab in self.main.tabs.items()
            if tab.state is ConnectionState.LOCKED
        ]
        await self.manager.unlock(passphrase)
        for account_id in locked:
            state, detail = self.manager.connection_state(account_id)
            if state is ConnectionState.LOCKED:
                raise StoreWrongKeyError(detail or "That passphrase does not open the store.")

    def _unlocked(self, unlocked: bool | None) -> None:
        self._unlock_open = False
        if not unlocked:
            return
        for account_id, tab in self.main.tabs.items():
            try:
                tab.state, tab.detail = self.manager.connection_state(account_id)
            except PeerwaveError as exc:
                tab.detail = str(exc)
            self.main.reload_conversations(account_id)
        self.main.refresh_all()

    def action_unlock(self) -> None:
        self.request_unlock(asked=True)

    def action_keyring_help(self) -> None:
        self.push_screen(KeyringHelpScreen())

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.settings.keymap))

    def toggle_notifications(self) -> None:
        notes = self.settings.notifications
        notes.enabled = not notes.enabled
        self.save_settings()
        self.notify(f"Notifications {'on' if notes.enabled else 'off'}.", timeout=3)

    def toggle_notification_text(self) -> None:
        notes = self.settings.notifications
        notes.show_text = not notes.show_text
        self.save_settings()
        shown = "shows" if notes.show_text else "hides"
        self.notify(f"Desktop notifications now {shown} the message text.", timeout=3)

    # --- app-wide keys (priority bindings; they act only on the main screen) ---------

    def _on_main(self) -> bool:
        return self.screen is self.main

    def action_goto_tab(self, number: int) -> None:
        if self._on_main():
            self.main.goto_tab(number)

    def action_cycle_tab(self, delta: int) -> None:
        if self._on_main():
            self.main.cycle_tab(delta)

    def action_quick_switcher(self) -> None:
        if self._on_main():
            self.main.quick_switcher()

    def action_next_unread(self) -> None:
        if self._on_main():
            self.main.next_unread()

    def action_new_conversation(self) -> None:
        if self._on_main():
            self.main.new_conversation()

    def action_retry_failed(self) -> None:
        if self._on_main():
            self.main.retry_failed()


class _DiscardedOutput:
    """Stands in for Textual's output thread once the terminal is gone."""

    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return 1


async def _close_part(what: str, closing: Awaitable[None], timeout: float) -> None:
    started = time.monotonic()
    try:
        await asyncio.wait_for(closing, timeout)
    except Exception as exc:  # noqa: BLE001 - closing goes on; the reason is logged
        log.error("closing the %s failed: %s", what, type(exc).__name__)
    log.info("%s closed in %.2f s", what, time.monotonic() - started)


def make_app(
    settings: Settings,
    paths: Paths,
    *,
    manager: ManagerAPI,
    env: Mapping[str, str] | None = None,
    today: Callable[[], date] = date.today,
    now: Callable[[], datetime] = utc_now,
    startup: Startup | None = None,
    freeze_heap: bool = False,
) -> PeerwaveApp:
    """The one way to build the app (CLI, demo, tests, screenshots). ``freeze_heap``:
    for the real program only (``peerwave-tui``, the demo): see ``ui/heap.py``."""
    return PeerwaveApp(
        settings,
        paths,
        manager,
        env=env,
        today=today,
        now=now,
        startup=startup,
        freeze_heap=freeze_heap,
    )

"""The Textual app: built by ``make_app`` for the CLI, the tests and the screenshots.

The app owns the manager's lifecycle (started in a worker after the first paint, closed
on exit), the bridge worker that turns core events into messages for the main screen,
the app-wide key bindings (priority bindings, each with an id for ``[keymap]``), themes
and notifications. Everything about servers and conversations happens in ``MainScreen``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import ClassVar

from rich.text import Text
from textual.app import App
from textual.binding import Binding, BindingType
from textual.theme import Theme

from peerwave_tui.errors import NoSecureKeyringError, PeerwaveError
from peerwave_tui.manager_api import ManagerAPI
from peerwave_tui.models import AccountRecord, ConnectionState, utc_now
from peerwave_tui.paths import Paths
from peerwave_tui.settings import DEFAULT_THEME, Settings
from peerwave_tui.ui.bridge import pump_events
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
from peerwave_tui.ui.themes import PEERWAVE_THEMES, stylesheet_paths

log = logging.getLogger(__name__)

CLOSE_MANAGER_TIMEOUT = 10.0  # seconds; closing must not keep the terminal hostage


class PeerwaveApp(App[None], inherit_bindings=False):
    TITLE = "peerwave-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        *app_bindings(),
        Binding("ctrl+c", "help_quit", show=False, system=True),
    ]
    COMMANDS = {ServerCommands, ConversationCommands, ThemeCommands, ActionCommands}

    def __init__(
        self,
        settings: Settings,
        paths: Paths,
        manager: ManagerAPI,
        *,
        env: Mapping[str, str] | None = None,
        today: Callable[[], date] = date.today,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        fix_escape_digit_keys()  # before the driver parses a single key
        super().__init__(css_path=stylesheet_paths())
        self.settings = settings
        self.paths = paths
        self.manager = manager
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
        )
        self.started = asyncio.Event()  # set once saved accounts are shown
        self._closed = False
        self._unlock_open = False

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
        self.run_worker(self._start(), name="start-manager", group="manager", exit_on_error=False)

    async def _start(self) -> None:
        try:
            await self._start_and_show()
        finally:
            self.started.set()

    async def _start_and_show(self) -> None:
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
        try:
            await self.main.load_accounts()
        except PeerwaveError as exc:
            self.notify(str(exc), title="Saved servers", severity="error", timeout=15)
        if not self.main.tabs:
            self.push_screen(AddServerWizard(self.manager, first_run=True), self._server_added)
        else:
            if self.main.active_pane is not None:
                self.main.active_pane.focus_default()
            self.request_unlock()

    async def close_manager(self) -> None:
        """Close every connection and store once (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.wait_for(self.manager.aclose(), CLOSE_MANAGER_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - closing goes on; the reason is logged
            log.error("closing the manager failed: %s", type(exc).__name__)

    async def action_quit(self) -> None:
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

    def request_unlock(self, *, asked: bool = False) -> None:
        """Ask for the passphrase if a store is locked (or say that none is)."""
        locked = [tab for tab in self.main.tabs.values() if tab.state is ConnectionState.LOCKED]
        if not locked:
            if asked:
                self.notify("Nothing is locked.", timeout=3)
            return
        if self._unlock_open:
            return
        self._unlock_open = True
        self.push_screen(
            UnlockScreen(self.manager.unlock, [tab.name for tab in locked]), self._unlocked
        )

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


def make_app(
    settings: Settings,
    paths: Paths,
    *,
    manager: ManagerAPI,
    env: Mapping[str, str] | None = None,
    today: Callable[[], date] = date.today,
    now: Callable[[], datetime] = utc_now,
) -> PeerwaveApp:
    """The one way to build the app (CLI, demo, tests, screenshots)."""
    return PeerwaveApp(settings, paths, manager, env=env, today=today, now=now)

"""Add a server: URL → what the server says about itself → register, log in, or link.

Registration: e-mail → one-time code, display name (and an optional @name) → the backup
codes, shown once and acknowledged before the wizard closes. Log in: e-mail and a backup
code. Link: a magic key from a device that is already signed in. Every failure is shown
inline (``PeerwaveError`` text is ready to show) and the user can correct and retry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import (
    Button,
    Checkbox,
    ContentSwitcher,
    Input,
    Label,
    LoadingIndicator,
    Static,
)

from peerwave_tui.errors import (
    NoSecureKeyringError,
    PeerwaveError,
    RegistrationIncompleteError,
)
from peerwave_tui.manager_api import ManagerAPI, PendingRegistration, RegistrationResult
from peerwave_tui.models import AccountRecord, ServerMeta
from peerwave_tui.ui.format import one_line
from peerwave_tui.ui.screens.keyring_help import KeyringHelpScreen

log = logging.getLogger(__name__)
T = TypeVar("T")

# Where Back goes from each step.
_BACK = {
    "step-choose": "step-url",
    "step-register-email": "step-choose",
    "step-register-otp": "step-register-email",
    "step-login": "step-choose",
    "step-link": "step-choose",
}


def _step(step_id: str, *children: Widget) -> Vertical:
    return Vertical(*children, id=step_id, classes="wizard-step")


class AddServerWizard(ModalScreen[AccountRecord | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, manager: ManagerAPI, *, first_run: bool = False) -> None:
        super().__init__()
        self._manager = manager
        self._first_run = first_run
        self._meta: ServerMeta | None = None
        self._pending: PendingRegistration | None = None
        self._account: AccountRecord | None = None  # registered, codes not yet acknowledged

    # --- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        title = "Welcome to peerwave-tui: add a server" if self._first_run else "Add a server"
        with Vertical(classes="dialog dialog-wide", id="wizard"):
            yield Label(title, classes="dialog-title")
            yield Static("", id="wizard-server", markup=False)
            with ContentSwitcher(initial="step-url", id="wizard-steps"):
                yield _step(
                    "step-url",
                    Static("The address of a PeerWave server:", classes="dialog-body"),
                    Input(placeholder="https://chat.example.org", id="url"),
                    Button("Next", variant="primary", id="url-next"),
                )
                yield _step(
                    "step-choose",
                    Static("How do you want to use this server?", classes="dialog-body"),
                    Horizontal(
                        Button("Register", variant="primary", id="choose-register"),
                        Button("Log in with a backup code", id="choose-login"),
                        Button("Link this device", id="choose-link"),
                        classes="dialog-buttons",
                    ),
                )
                yield _step(
                    "step-register-email",
                    Static(
                        "Your e-mail address; the server sends a one-time code to it.",
                        classes="dialog-body",
                    ),
                    Input(placeholder="you@example.org", id="register-email"),
                    Button("Send code", variant="primary", id="register-email-next"),
                )
                yield _step(
                    "step-register-otp",
                    Static("", id="otp-explain", classes="dialog-body", markup=False),
                    Input(placeholder="One-time code", id="register-otp"),
                    Input(placeholder="Display name", id="register-display-name"),
                    Input(placeholder="@name (optional)", id="register-at-name"),
                    Static("", id="interim-codes", markup=False),
                    Button("Register", variant="primary", id="register-finish"),
                )
                yield _step(
                    "step-codes",
                    Static(
                        "These backup codes let you log in again if you lose this device. "
                        "They are shown only now: write them down or store them in a "
                        "password manager.",
                        classes="dialog-body",
                    ),
                    Static("", id="backup-codes", markup=False),
                    Checkbox("I have saved these backup codes", id="codes-saved"),
                    Button("Finish", variant="primary", id="codes-done", disabled=True),
                )
                yield _step(
                    "step-login",
                    Static(
                        "Log in with your e-mail address and one of your backup codes.",
                        classes="dialog-body",
                    ),
                    Input(placeholder="you@example.org", id="login-email"),
                    Input(placeholder="Backup code", password=True, id="login-code"),
                    Button("Log in", variant="primary", id="login-go"),
                )
                yield _step(
                    "step-link",
                    Static(
                        "On a device that is signed in, generate a magic key "
                        "(Ctrl+P → Generate magic key) and paste it here.",
                        classes="dialog-body",
                    ),
                    Input(placeholder="Magic key", password=True, id="link-key"),
                    Checkbox(
                        "Connect to the address above, not the one inside the key",
                        id="link-use-url",
                    ),
                    Button("Link", variant="primary", id="link-go"),
                )
            yield Static("", id="wizard-error", classes="dialog-error", markup=False)
            with Horizontal(id="wizard-busy-row"):
                yield LoadingIndicator(id="wizard-busy")
                yield Static("", id="wizard-busy-text", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Back", id="back")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._set_busy(None)
        self.query_one("#interim-codes").display = False
        self._go("step-url")

    # --- helpers --------------------------------------------------------------------

    @property
    def step(self) -> str:
        return self.query_one("#wizard-steps", ContentSwitcher).current or ""

    def _go(self, step: str) -> None:
        self.query_one("#wizard-steps", ContentSwitcher).current = step
        self._error("")
        self.query_one("#back", Button).display = step in _BACK
        self.query_one("#cancel", Button).display = step != "step-codes"
        first_input = self.query_one(f"#{step}").query(Input)
        if first_input:
            first_input.first().focus()

    def _value(self, input_id: str) -> str:
        return self.query_one(f"#{input_id}", Input).value.strip()

    def _error(self, text: str) -> None:
        self.query_one("#wizard-error", Static).update(text)

    def _set_busy(self, text: str | None) -> None:
        self.query_one("#wizard-busy-row").display = text is not None
        self.query_one("#wizard-busy-text", Static).update(text or "")
        for button in self.query(Button):
            if button.id != "cancel" and button.id != "codes-done":
                button.disabled = text is not None

    def _run(self, call: Callable[[], Awaitable[T]], busy: str, done: Callable[[T], None]) -> None:
        """Run one manager call in a worker; errors appear in the wizard."""

        async def attempt() -> None:
            self._set_busy(busy)
            self._error("")
            try:
                result = await call()
            except NoSecureKeyringError as exc:
                self._error(str(exc))
                self.app.push_screen(KeyringHelpScreen(str(exc)))
                return
            except RegistrationIncompleteError as exc:
                # The account exists; its backup codes are its only way in until the
                # registration is finished, so they are shown now, not at the end.
                self._error(str(exc))
                self._show_interim_codes(exc.backup_codes)
                return
            except PeerwaveError as exc:
                self._error(str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - shown, not raised: the app keeps running
                log.error("add-server step failed unexpectedly: %s", type(exc).__name__)
                self._error("Something unexpected went wrong; details are in the log.")
                return
            finally:
                self._set_busy(None)
            done(result)

        self.run_worker(attempt(), group="wizard", exclusive=True, exit_on_error=False)

    # --- step: URL ------------------------------------------------------------------

    @on(Input.Submitted, "#url")
    @on(Button.Pressed, "#url-next")
    def _probe(self) -> None:
        url = self._value("url")
        if not url:
            self._error("Enter the server's address.")
            return
        self._run(lambda: self._manager.probe_server(url), "Contacting the server…", self._probed)

    def _probed(self, meta: ServerMeta) -> None:
        self._meta = meta
        version = f" {meta.version}" if meta.version else ""
        text = f"{one_line(meta.name, 50)}{version}  ·  {meta.url}"
        if meta.registration_mode == "invitation_only":
            text += "\nThis server registers new users by invitation only."
        self.query_one("#wizard-server", Static).update(text)
        self._go("step-choose")

    # --- step: choose ---------------------------------------------------------------

    @on(Button.Pressed, "#choose-register")
    def _choose_register(self) -> None:
        self._go("step-register-email")

    @on(Button.Pressed, "#choose-login")
    def _choose_login(self) -> None:
        self._go("step-login")

    @on(Button.Pressed, "#choose-link")
    def _choose_link(self) -> None:
        self._go("step-link")

    # --- register -------------------------------------------------------------------

    @on(Input.Submitted, "#register-email")
    @on(Button.Pressed, "#register-email-next")
    def _register_start(self) -> None:
        email = self._value("register-email")
        if "@" not in email:
            self._error("Enter your e-mail address.")
            return
        url = self._server_url()
        self._run(
            lambda: self._manager.register_start(url, email),
            "Asking the server for a code…",
            self._code_sent,
        )

    def _code_sent(self, pending: PendingRegistration) -> None:
        self._pending = pending
        self.query_one("#otp-explain", Static).update(
            f"Enter the code sent to {pending.email}, and the name others will see."
        )
        self._go("step-register-otp")

    @on(Input.Submitted, "#register-otp,#register-display-name,#register-at-name")
    @on(Button.Pressed, "#register-finish")
    def _register_finish(self) -> None:
        pending = self._pending
        if pending is None:
            self._go("step-register-email")
            return
        otp = self._value("register-otp")
        display_name = self._value("register-display-name")
        at_name = self._value("register-at-name").lstrip("@") or None
        if not otp:
            self._error("Enter the code from the e-mail.")
            return
        if not display_name:
            self._error("Enter a display name.")
            return
        self._run(
            lambda: self._manager.register_finish(pending, otp, display_name, at_name),
            "Registering and generating keys…",
            self._registered,
        )

    def _show_interim_codes(self, codes: list[str]) -> None:
        interim = self.query_one("#interim-codes", Static)
        interim.update(
            "Your account exists already. Save these backup codes now:\n" + "\n".join(codes)
        )
        interim.display = True

    def _registered(self, result: RegistrationResult) -> None:
        self._account = result.account
        codes = list(result.backup_codes)
        self.query_one("#backup-codes", Static).update("\n".join(codes) or "(none)")
        self._go("step-codes")
        self.query_one("#codes-saved", Checkbox).focus()

    @on(Checkbox.Changed, "#codes-saved")
    def _codes_acknowledged(self, event: Checkbox.Changed) -> None:
        self.query_one("#codes-done", Button).disabled = not event.value

    @on(Button.Pressed, "#codes-done")
    def _finish(self) -> None:
        if self.query_one("#codes-saved", Checkbox).value and self._account is not None:
            self.dismiss(self._account)

    # --- log in / link --------------------------------------------------------------

    @on(Input.Submitted, "#login-email,#login-code")
    @on(Button.Pressed, "#login-go")
    def _login(self) -> None:
        email = self._value("login-email")
        code = self._value("login-code")
        if "@" not in email or not code:
            self._error("Enter your e-mail address and a backup code.")
            return
        url = self._server_url()
        self._run(
            lambda: self._manager.login(url, email, code),
            "Logging in and generating keys…",
            self._added,
        )

    @on(Input.Submitted, "#link-key")
    @on(Button.Pressed, "#link-go")
    def _link(self) -> None:
        key = self._value("link-key")
        if not key:
            self._error("Paste the magic key.")
            return
        override = self._server_url() if self.query_one("#link-use-url", Checkbox).value else None
        self._run(
            lambda: self._manager.link(key, url_override=override),
            "Linking and generating keys…",
            self._added,
        )

    def _added(self, account: AccountRecord) -> None:
        self.dismiss(account)

    def _server_url(self) -> str:
        return self._meta.url if self._meta is not None else self._value("url")

    # --- navigation -----------------------------------------------------------------

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        previous = _BACK.get(self.step)
        if previous is not None:
            self._go(previous)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self.step == "step-codes":
            # The account exists already; the codes must be acknowledged first.
            self._error("Tick the box once you have saved the backup codes.")
            return
        self.dismiss(None)

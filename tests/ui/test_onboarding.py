"""Adding a server (register, log in, link), unlocking stores, the keyring screen."""

from __future__ import annotations

from textual.widgets import Button, Checkbox, Input, Static

from peerwave_tui.errors import NoSecureKeyringError
from peerwave_tui.models import ConnectionState, ServerMeta
from peerwave_tui.ui.screens.keyring_help import KeyringHelpScreen
from peerwave_tui.ui.screens.unlock import UnlockScreen
from peerwave_tui.ui.screens.wizard import AddServerWizard
from tests.ui.conftest import started, until
from tests.ui.memory_manager import MemoryManager

URL = "http://127.0.0.1:3005"


def _server(memory: MemoryManager) -> None:
    memory.servers[URL] = ServerMeta(URL, "Example Chat", "1.4.4", "open")


def _error(wizard: AddServerWizard) -> str:
    return str(wizard.query_one("#wizard-error", Static).render())


async def _type(pilot, wizard: AddServerWizard, input_id: str, text: str) -> None:
    field = wizard.query_one(f"#{input_id}", Input)
    field.focus()
    field.value = text
    await pilot.pause()


async def _wizard_at_choice(app, pilot, memory) -> AddServerWizard:
    wizard = await until(
        pilot,
        lambda: isinstance(app.screen, AddServerWizard) and app.screen,
        "the wizard on first start",
    )
    await _type(pilot, wizard, "url", "http://127.0.0.1:9")
    await pilot.press("enter")
    await until(pilot, lambda: "Cannot reach" in _error(wizard), "unreachable server error")
    assert wizard.step == "step-url"
    await _type(pilot, wizard, "url", URL)
    await pilot.press("enter")
    await until(pilot, lambda: wizard.step == "step-choose", "server probed")
    assert "Example Chat 1.4.4" in str(wizard.query_one("#wizard-server", Static).render())
    return wizard


async def test_first_start_registers_and_shows_backup_codes_once(build_app, memory) -> None:
    _server(memory)
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        wizard = await _wizard_at_choice(app, pilot, memory)
        await pilot.click(wizard.query_one("#choose-register", Button))
        await until(pilot, lambda: wizard.step == "step-register-email")
        await _type(pilot, wizard, "register-email", "new@example.org")
        await pilot.press("enter")
        await until(pilot, lambda: wizard.step == "step-register-otp")
        assert memory.called("register_start") == [("register_start", URL, "new@example.org")]
        await _type(pilot, wizard, "register-otp", "000000")
        await _type(pilot, wizard, "register-display-name", "New Person")
        await _type(pilot, wizard, "register-at-name", "@newbie")
        await pilot.press("enter")
        await until(pilot, lambda: "wrong or has expired" in _error(wizard), "bad code shown")
        assert wizard.step == "step-register-otp"
        await _type(pilot, wizard, "register-otp", "123456")
        await _type(pilot, wizard, "register-display-name", "Taken Name")
        await pilot.press("enter")
        await until(pilot, lambda: "name is taken" in _error(wizard), "refused profile")
        interim = wizard.query_one("#interim-codes", Static)
        assert interim.display  # the account exists: its codes are shown at once
        assert all(code in str(interim.render()) for code in memory.backup_codes)
        await _type(pilot, wizard, "register-display-name", "New Person")
        await pilot.press("enter")
        await until(pilot, lambda: wizard.step == "step-codes", "backup codes")
        assert memory.called("register_finish")[-1] == (
            "register_finish",
            "new@example.org",
            "123456",
            "New Person",
            "newbie",
        )
        codes = str(wizard.query_one("#backup-codes", Static).render())
        assert codes.split() == memory.backup_codes
        done = wizard.query_one("#codes-done", Button)
        assert done.disabled
        await pilot.press("escape")  # cannot leave before acknowledging
        await pilot.pause()
        assert app.screen is wizard
        wizard.query_one("#codes-saved", Checkbox).value = True
        await until(pilot, lambda: not done.disabled)
        await pilot.click(done)
        await until(pilot, lambda: app.screen is app.main, "wizard closed")
        await until(pilot, lambda: len(app.main.server_tabs.account_ids()) == 1)
        tab = app.main.active_tab
        assert tab is not None and tab.name == "Example Chat"


async def test_log_in_with_a_backup_code(build_app, memory) -> None:
    _server(memory)
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        wizard = await _wizard_at_choice(app, pilot, memory)
        await pilot.click(wizard.query_one("#choose-login", Button))
        await until(pilot, lambda: wizard.step == "step-login")
        await _type(pilot, wizard, "login-email", "me@example.org")
        await _type(pilot, wizard, "login-code", "nope")
        await pilot.press("enter")
        await until(pilot, lambda: "not valid" in _error(wizard))
        await _type(pilot, wizard, "login-code", "bravo-2222")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is app.main)
        await until(pilot, lambda: len(app.main.server_tabs.account_ids()) == 1)


async def test_link_with_a_magic_key_and_back_navigation(build_app, memory) -> None:
    _server(memory)
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        wizard = await _wizard_at_choice(app, pilot, memory)
        await pilot.click(wizard.query_one("#choose-link", Button))
        await until(pilot, lambda: wizard.step == "step-link")
        await pilot.click(wizard.query_one("#back", Button))
        await until(pilot, lambda: wizard.step == "step-choose")
        await pilot.click(wizard.query_one("#choose-link", Button))
        await until(pilot, lambda: wizard.step == "step-link")
        await _type(pilot, wizard, "link-key", "pwmk-forged")
        await pilot.press("enter")
        await until(pilot, lambda: "invalid or has expired" in _error(wizard))
        wizard.query_one("#link-use-url", Checkbox).value = True
        await _type(pilot, wizard, "link-key", memory.magic)
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is app.main)
        assert memory.called("link")[-1] == ("link", URL)


async def test_no_keyring_shows_the_options(build_app, memory) -> None:
    _server(memory)

    async def no_keyring(url: str, email: str):
        raise NoSecureKeyringError(
            "No secure keyring is available; use --key-mode passphrase or set "
            "PEERWAVE_TUI_PASSPHRASE."
        )

    memory.register_start = no_keyring  # type: ignore[method-assign]
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        wizard = await _wizard_at_choice(app, pilot, memory)
        await pilot.click(wizard.query_one("#choose-register", Button))
        await _type(pilot, wizard, "register-email", "new@example.org")
        await pilot.press("enter")
        screen = await until(
            pilot, lambda: isinstance(app.screen, KeyringHelpScreen) and app.screen
        )
        text = " ".join(str(w.render()) for w in screen.query(Static))
        for option in (
            "--key-mode passphrase",
            "PEERWAVE_TUI_PASSPHRASE",
            "--passphrase-file",
            "Secret Service",
        ):
            assert option in text
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is wizard)
        assert "No secure keyring" in _error(wizard)


async def test_locked_store_asks_for_the_passphrase(build_app, memory) -> None:
    locked = memory.add_account("Vault", port=3010, state=ConnectionState.LOCKED)
    memory.add_account("Open", port=3011)
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        screen = await until(pilot, lambda: isinstance(app.screen, UnlockScreen) and app.screen)
        assert app.main.tabs[locked.account_id].state is ConnectionState.LOCKED
        field = screen.query_one("#passphrase", Input)
        assert field.password
        field.value = "wrong"
        await pilot.press("enter")
        await until(
            pilot,
            lambda: "does not open" in str(screen.query_one("#unlock-error", Static).render()),
        )
        assert field.value == ""
        field.value = memory.passphrase
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is app.main)
        await until(
            pilot, lambda: app.main.tabs[locked.account_id].state is ConnectionState.CONNECTED
        )


async def test_no_keyring_at_start_shows_the_options_and_other_servers_stay(
    build_app, memory
) -> None:
    memory.add_account("Alpha", port=3001)

    async def start() -> None:
        raise NoSecureKeyringError("No secure keyring is available for new stores.")

    memory.start = start  # type: ignore[method-assign]
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        screen = await until(
            pilot, lambda: isinstance(app.screen, KeyringHelpScreen) and app.screen
        )
        text = " ".join(str(w.render()) for w in screen.query(Static))
        assert "No secure keyring is available for new stores." in text
        assert "--key-mode passphrase" in text
        assert len(app.main.server_tabs.account_ids()) == 1  # saved servers still show

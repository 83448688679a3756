"""Adding a server against a real dev server: register (the OTP comes from the server),
log in with a backup code, link with a magic key from another device; no usable keyring;
a store in passphrase mode that starts locked and is unlocked on the unlock screen."""

from __future__ import annotations

from textual.widgets import Button, Checkbox, Input, Static

from peerwave_tui.models import ConnectionState, KeyMode
from peerwave_tui.paths import Paths
from peerwave_tui.ui.lazy_manager import LazyManager
from peerwave_tui.ui.screens.keyring_help import KeyringHelpScreen
from peerwave_tui.ui.screens.unlock import UnlockScreen
from peerwave_tui.ui.screens.wizard import AddServerWizard
from tests.devserver_fixtures import create_account, register_account, running_devserver
from tests.ui.conftest import click, started, until
from tests.ui.real import app_over, real_manager, register

SIZE = (120, 40)


def _error(wizard: AddServerWizard) -> str:
    return str(wizard.query_one("#wizard-error", Static).render())


async def _type(pilot, wizard: AddServerWizard, input_id: str, text: str) -> None:
    field = wizard.query_one(f"#{input_id}", Input)
    field.focus()
    field.value = text
    await pilot.pause()


async def _wizard_at_choice(app, pilot, url: str) -> AddServerWizard:
    await started(app, pilot)
    wizard = await until(
        pilot,
        lambda: isinstance(app.screen, AddServerWizard) and app.screen,
        "the wizard on first start",
    )
    await _type(pilot, wizard, "url", "http://127.0.0.1:9")  # nothing listens there
    await pilot.press("enter")
    await until(pilot, lambda: "Cannot reach 127.0.0.1:9" in _error(wizard), "unreachable")
    assert wizard.step == "step-url"
    await _type(pilot, wizard, "url", url)
    await pilot.press("enter")
    await until(pilot, lambda: wizard.step == "step-choose", "server probed")
    assert "PeerWave dev server" in str(wizard.query_one("#wizard-server", Static).render())
    return wizard


async def _connected_tab(app, pilot, email: str):
    await until(pilot, lambda: app.screen is app.main, "wizard closed")
    await until(pilot, lambda: len(app.main.server_tabs.account_ids()) == 1, "a tab")
    tab = app.main.active_tab
    assert tab is not None and tab.account.email == email
    await until(pilot, lambda: tab.state is ConnectionState.CONNECTED, "connected")
    return tab


async def test_first_start_registers_and_shows_the_backup_codes_once(tmp_path, settings) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        await register_account(server.url, server, display_name="Taken Name")
        manager = real_manager(tmp_path / "me")
        app = app_over(manager, settings)
        async with app.run_test(size=SIZE) as pilot:
            wizard = await _wizard_at_choice(app, pilot, server.url)
            await click(pilot, wizard.query_one("#choose-register", Button))
            await until(pilot, lambda: wizard.step == "step-register-email")
            await _type(pilot, wizard, "register-email", "new@example.org")
            await pilot.press("enter")
            await until(pilot, lambda: wizard.step == "step-register-otp", "code sent")
            otp = await server.read_otp("new@example.org")
            wrong = "11111" if otp != "11111" else "22222"
            await _type(pilot, wizard, "register-otp", wrong)
            await _type(pilot, wizard, "register-display-name", "Taken Name")
            await pilot.press("enter")
            await until(pilot, lambda: _error(wizard) != "", "wrong code refused")
            assert wizard.step == "step-register-otp"
            await _type(pilot, wizard, "register-otp", otp)
            await pilot.press("enter")
            await until(pilot, lambda: "refused the profile" in _error(wizard), "name taken")
            interim = wizard.query_one("#interim-codes", Static)
            assert interim.display  # the account exists: its codes are shown at once
            interim_codes = str(interim.render()).splitlines()[1:]
            assert len(interim_codes) == 10  # none used yet: the first login comes later
            await _type(pilot, wizard, "register-display-name", "New Person")
            await pilot.press("enter")
            await until(pilot, lambda: wizard.step == "step-codes", "backup codes")
            codes = str(wizard.query_one("#backup-codes", Static).render()).split()
            # The first login used one of them; the others are shown again.
            assert len(codes) == 9 and set(codes) < set(interim_codes)
            done = wizard.query_one("#codes-done", Button)
            assert done.disabled
            await pilot.press("escape")  # cannot leave before acknowledging
            await pilot.pause()
            assert app.screen is wizard
            wizard.query_one("#codes-saved", Checkbox).value = True
            await until(pilot, lambda: not done.disabled)
            await click(pilot, done)
            tab = await _connected_tab(app, pilot, "new@example.org")
            assert tab.name == "PeerWave dev server"
            assert tab.account.display_name == "New Person"


async def test_log_in_with_a_backup_code(tmp_path, settings) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        existing = await create_account(server.url, server, email="me@example.org")
        manager = real_manager(tmp_path / "me")
        app = app_over(manager, settings)
        async with app.run_test(size=SIZE) as pilot:
            wizard = await _wizard_at_choice(app, pilot, server.url)
            await click(pilot, wizard.query_one("#choose-login", Button))
            await until(pilot, lambda: wizard.step == "step-login")
            await _type(pilot, wizard, "login-email", "me@example.org")
            await _type(pilot, wizard, "login-code", "NOTAREALCODE0000")
            await pilot.press("enter")
            await until(pilot, lambda: "did not accept the backup code" in _error(wizard))
            await _type(pilot, wizard, "login-code", existing.backup_codes[0].lower())
            await pilot.press("enter")
            tab = await _connected_tab(app, pilot, "me@example.org")
            assert tab.account.user_id == existing.user_id


async def test_link_this_device_with_a_magic_key(tmp_path, settings) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        laptop = real_manager(tmp_path / "laptop")
        try:
            account, _codes = await register(laptop, server, "me@example.org", "Me")
            key = await laptop.magic_key(account.account_id)
        finally:
            await laptop.aclose()
        manager = real_manager(tmp_path / "phone")
        app = app_over(manager, settings)
        async with app.run_test(size=SIZE) as pilot:
            wizard = await _wizard_at_choice(app, pilot, server.url)
            await click(pilot, wizard.query_one("#choose-link", Button))
            await until(pilot, lambda: wizard.step == "step-link")
            await click(pilot, wizard.query_one("#back", Button))
            await until(pilot, lambda: wizard.step == "step-choose")
            await click(pilot, wizard.query_one("#choose-link", Button))
            await until(pilot, lambda: wizard.step == "step-link")
            forged = "|".join([server.url, "0" * 64, "1", "f" * 64])
            await _type(pilot, wizard, "link-key", forged)
            await pilot.press("enter")
            await until(pilot, lambda: _error(wizard) != "", "a forged key is refused")
            assert app.screen is wizard
            await _type(pilot, wizard, "link-key", key)
            await pilot.press("enter")
            tab = await _connected_tab(app, pilot, "me@example.org")
            assert tab.account.user_id == account.user_id
            assert tab.account.client_id != account.client_id  # a device of its own


async def test_no_usable_keyring_shows_every_way_out(tmp_path, settings) -> None:
    from keyring.backends.fail import Keyring as NoKeyring

    async with running_devserver(tmp_path / "srv") as server:
        manager = real_manager(tmp_path / "me", None, keyring_backend=NoKeyring())
        app = app_over(manager, settings)
        async with app.run_test(size=SIZE) as pilot:
            wizard = await _wizard_at_choice(app, pilot, server.url)
            await click(pilot, wizard.query_one("#choose-register", Button))
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
            assert "No secure OS keyring" in _error(wizard)
            assert not manager.accounts()  # nothing was created


async def test_a_passphrase_store_starts_locked_and_the_unlock_screen_opens_it(
    tmp_path, settings
) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        first = real_manager(tmp_path / "me", KeyMode.PASSPHRASE, passphrase="correct horse")
        try:
            account, _codes = await register(first, server, "me@example.org", "Me")
        finally:
            await first.aclose()
        # Next start, as ``peerwave-tui`` does it: the manager is built after the first
        # paint; no passphrase is given and there is no terminal to ask on.
        manager = LazyManager(lambda: real_manager(tmp_path / "me", None))
        app = app_over(manager, settings, Paths.from_home(tmp_path / "me"))
        async with app.run_test(size=SIZE) as pilot:
            await started(app, pilot)
            screen = await until(
                pilot, lambda: isinstance(app.screen, UnlockScreen) and app.screen, "unlock"
            )
            tab = app.main.tabs[account.account_id]
            assert tab.state is ConnectionState.LOCKED
            field = screen.query_one("#passphrase", Input)
            assert field.password
            field.value = "wrong horse"
            await pilot.press("enter")
            error = screen.query_one("#unlock-error", Static)
            await until(pilot, lambda: "passphrase is wrong" in str(error.render()), "refused")
            assert field.value == ""
            field.value = "correct horse"
            await pilot.press("enter")
            await until(pilot, lambda: app.screen is app.main, "unlocked")
            await until(pilot, lambda: tab.state is ConnectionState.CONNECTED, "connected")

"""A real identity change: Nora "reinstalls" (her device is removed and a fresh install
logs in with a backup code, so the server gives the same device number a new identity
key). Sending to her is held behind a dialog until the user verifies or accepts."""

from __future__ import annotations

from textual.widgets import Button, Static

from peerwave_tui.models import ConnectionState, MessageKind
from peerwave_tui.ui.screens.identity_change import IdentityChangeDialog
from peerwave_tui.ui.screens.safety_number import SafetyNumberScreen, safety_rows
from tests.ui.conftest import feed_terminal, screen_text, started, until
from tests.ui.real import demo_app, has_text, user_contact

SIZE = (120, 40)


async def _nora_reinstalls(app, pilot, environment):
    """Returns (north account, Nora's contact) once the change is on screen."""
    await started(app, pilot)
    north = app.main.tab_order()[0].account_id
    await until(pilot, lambda: app.main.tabs[north].state is ConnectionState.CONNECTED)
    pane = app.main.active_pane
    await feed_terminal(app, pilot, "before")
    await pilot.press("enter")
    await until(pilot, has_text(app, "echo: before"), "first answer")
    nora = environment.contacts[0]
    you = next(a for a in app.manager.accounts() if a.account_id == north)
    await nora.reinstall()
    await nora.say(user_contact(you), "new phone, same Nora")
    await until(pilot, has_text(app, "new phone, same Nora"), "her message still arrives")
    await until(pilot, lambda: pane.conversation is not None and pane.conversation.identity_blocked)
    notices = [m for m in pane.message_view.messages if m.kind is MessageKind.NOTICE]
    assert notices and "safety number" in notices[-1].text
    await until(pilot, lambda: "safety number changed: verify before sending" in screen_text(app))
    return you, nora, pane


async def test_sending_is_held_until_the_safety_number_is_verified(tmp_path, settings) -> None:
    app, environment = demo_app(tmp_path / "demo", settings)
    async with app.run_test(size=SIZE) as pilot:
        you, nora, pane = await _nora_reinstalls(app, pilot, environment)
        await feed_terminal(app, pilot, "is it really you?")
        await pilot.press("enter")
        dialog = await until(
            pilot, lambda: isinstance(app.screen, IdentityChangeDialog) and app.screen, "dialog"
        )
        assert pane.composer.text == "is it really you?"  # held, not lost
        assert not has_text(app, "is it really you?")()
        await pilot.click(dialog.query_one("#verify", Button))
        screen = await until(
            pilot, lambda: isinstance(app.screen, SafetyNumberScreen) and app.screen, "number"
        )
        # Both sides compute the same 60 digits from the real keys.
        theirs = await nora.manager.safety_number(nora.account.account_id, you.user_id)
        shown = str(screen.query_one("#safety-digits", Static).render())
        assert shown.splitlines() == safety_rows(theirs)
        assert "Their key changed" in str(screen.query_one("#safety-status", Static).render())
        await pilot.click(screen.query_one("#verify", Button))
        await until(pilot, lambda: app.screen is app.main, "dialog closed")
        await until(pilot, lambda: not pane.conversation.identity_blocked, "unblocked")
        number = await app.manager.safety_number(you.account_id, nora.account.user_id)
        assert number.verified and not number.changed
        await until(pilot, lambda: app.focused is pane.composer)
        await pilot.press("enter")
        await until(pilot, has_text(app, "echo: is it really you?"), "the new Nora answers")


async def test_cancelling_the_dialog_sends_nothing_and_accepting_sends(tmp_path, settings) -> None:
    app, environment = demo_app(tmp_path / "demo", settings)
    async with app.run_test(size=SIZE) as pilot:
        you, nora, pane = await _nora_reinstalls(app, pilot, environment)
        await feed_terminal(app, pilot, "wait")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, IdentityChangeDialog))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main)
        assert pane.composer.text == "wait"
        assert pane.conversation.identity_blocked
        await pilot.press("enter")
        dialog = await until(
            pilot, lambda: isinstance(app.screen, IdentityChangeDialog) and app.screen
        )
        await pilot.click(dialog.query_one("#accept", Button))
        await until(pilot, lambda: not pane.conversation.identity_blocked, "accepted")
        number = await app.manager.safety_number(you.account_id, nora.account.user_id)
        assert not number.changed and not number.verified  # accepted, not verified
        await until(pilot, lambda: app.focused is pane.composer)
        await pilot.press("enter")
        await until(pilot, has_text(app, "echo: wait"), "sent after accepting")


def test_safety_rows_are_three_rows_of_four_groups() -> None:
    from peerwave_tui.models import SafetyNumber

    rows = safety_rows(SafetyNumber("c", "0123456789" * 6))
    assert rows == [
        "01234  56789  01234  56789",
        "01234  56789  01234  56789",
        "01234  56789  01234  56789",
    ]

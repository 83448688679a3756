"""An identity change blocks sending behind a dialog; the safety-number screen."""

from __future__ import annotations

from textual.widgets import Button, Static

from peerwave_tui.ui.screens.identity_change import IdentityChangeDialog
from peerwave_tui.ui.screens.safety_number import SafetyNumberScreen, safety_rows
from tests.ui.conftest import feed_terminal, screen_text, started, until
from tests.ui.memory_manager import SAFETY_DIGITS
from tests.ui.worlds import three_servers


async def _blocked_conversation(app, pilot, memory, world):
    await started(app, pilot)
    app.main.open_conversation(world.alpha.account_id, "u-alice")
    pane = app.main.active_pane
    await until(pilot, lambda: app.focused is pane.composer and pane.message_view.messages)
    memory.change_identity(world.alpha, "u-alice")
    await until(
        pilot,
        lambda: app.main.tabs[world.alpha.account_id].conversations["u-alice"].identity_blocked,
        "blocked",
    )
    await until(pilot, lambda: "— Alice's safety number changed —" in screen_text(app), "notice")
    return pane


async def test_sending_is_held_until_the_new_key_is_accepted(build_app, memory) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        pane = await _blocked_conversation(app, pilot, memory, world)
        assert "safety number changed: verify before sending" in screen_text(app)
        await feed_terminal(app, pilot, "secret plans")
        await pilot.press("enter")
        dialog = await until(
            pilot, lambda: isinstance(app.screen, IdentityChangeDialog) and app.screen, "dialog"
        )
        assert not memory.called("send")
        assert pane.composer.text == "secret plans"  # held, not lost
        await pilot.click(dialog.query_one("#accept", Button))
        await until(pilot, lambda: memory.called("accept_identity"), "accepted")
        await until(pilot, lambda: app.screen is app.main)
        await until(pilot, lambda: app.focused is pane.composer)
        await pilot.press("enter")
        await until(pilot, lambda: memory.called("send"), "sent after accepting")
        assert pane.message_view.messages[-1].text == "secret plans"


async def test_cancelling_the_dialog_sends_nothing(build_app, memory) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        pane = await _blocked_conversation(app, pilot, memory, world)
        await feed_terminal(app, pilot, "wait")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, IdentityChangeDialog))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main)
        assert not memory.called("send") and not memory.called("accept_identity")
        assert pane.composer.text == "wait"


async def test_verify_shows_the_safety_number_and_marks_the_contact_verified(
    build_app, memory
) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _blocked_conversation(app, pilot, memory, world)
        await feed_terminal(app, pilot, "x")
        await pilot.press("enter")
        dialog = await until(
            pilot, lambda: isinstance(app.screen, IdentityChangeDialog) and app.screen
        )
        await pilot.click(dialog.query_one("#verify", Button))
        screen = await until(
            pilot,
            lambda: isinstance(app.screen, SafetyNumberScreen) and app.screen,
            "safety number screen",
        )
        digits = str(screen.query_one("#safety-digits", Static).render())
        assert digits.split() == [SAFETY_DIGITS[i : i + 5] for i in range(0, 60, 5)]
        assert len(digits.splitlines()) == 3
        assert "Their key changed" in str(screen.query_one("#safety-status", Static).render())
        await pilot.click(screen.query_one("#verify", Button))
        await until(pilot, lambda: memory.called("mark_verified"), "verified")
        assert memory.called("accept_identity")  # a changed key is accepted first
        await until(
            pilot,
            lambda: (
                not app.main.tabs[world.alpha.account_id].conversations["u-alice"].identity_blocked
            ),
        )


async def test_safety_number_from_the_palette_command(build_app, memory) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(world.alpha.account_id, "u-bob")
        app.main.show_safety_number()
        screen = await until(
            pilot, lambda: isinstance(app.screen, SafetyNumberScreen) and app.screen
        )
        assert "Not verified yet" in str(screen.query_one("#safety-status", Static).render())
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main)
        assert not memory.called("mark_verified")


def test_safety_rows_are_three_rows_of_four_groups() -> None:
    from peerwave_tui.models import SafetyNumber

    rows = safety_rows(SafetyNumber("c", "0123456789" * 6))
    assert rows == [
        "01234  56789  01234  56789",
        "01234  56789  01234  56789",
        "01234  56789  01234  56789",
    ]

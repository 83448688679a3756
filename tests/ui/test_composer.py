"""The composer: Enter sends at once, Ctrl+J adds a line, Up recalls the last message."""

from __future__ import annotations

from peerwave_tui.errors import NoRecipientDevicesError
from peerwave_tui.models import MessageStatus
from tests.ui.conftest import feed_terminal, screen_text, started, toasts, until
from tests.ui.worlds import three_servers


async def _open(app, pilot, account, conversation_id):
    await started(app, pilot)
    app.main.open_conversation(account.account_id, conversation_id)
    pane = app.main.active_pane
    await until(pilot, lambda: app.focused is pane.composer and pane.message_view.messages)
    return pane


async def test_enter_sends_and_the_message_shows_as_pending(build_app, memory) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        pane = await _open(app, pilot, world.alpha, "u-alice")
        await feed_terminal(app, pilot, "hello there")
        await pilot.press("enter")
        await until(pilot, lambda: memory.called("send"), "send called")
        assert memory.called("send") == [("send", world.alpha.account_id, "u-alice")]
        assert pane.composer.text == ""
        last = await until(
            pilot,
            lambda: (
                pane.message_view.messages[-1].text == "hello there"
                and pane.message_view.messages[-1]
            ),
        )
        assert last.status is MessageStatus.PENDING
        assert "hello there" in screen_text(app)
        # The same message arrived twice (the returned copy and MessageAdded): shown once.
        assert [m.text for m in pane.message_view.messages].count("hello there") == 1


async def test_ctrl_j_inserts_a_newline_and_the_message_keeps_it(build_app, memory) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        pane = await _open(app, pilot, world.alpha, "u-alice")
        await feed_terminal(app, pilot, "first")
        await feed_terminal(app, pilot, "\n")  # Ctrl+J as the terminal sends it (LF)
        await feed_terminal(app, pilot, "second")
        assert pane.composer.text == "first\nsecond"
        await pilot.press("shift+enter")  # where the terminal reports it
        await feed_terminal(app, pilot, "third")
        assert pane.composer.text == "first\nsecond\nthird"
        assert not memory.called("send")
        await feed_terminal(app, pilot, "\r")  # Enter
        await until(pilot, lambda: memory.called("send"))
        sent = memory.histories[(world.alpha.account_id, "u-alice")].extra[-1]
        assert sent.text == "first\nsecond\nthird"


async def test_blank_messages_are_not_sent(build_app, memory) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await _open(app, pilot, world.alpha, "u-alice")
        await pilot.press("space", "space", "enter")
        await pilot.pause()
        assert not memory.called("send")


async def test_up_recalls_the_last_sent_message_without_losing_a_draft(build_app, memory) -> None:
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        pane = await _open(app, pilot, world.alpha, "u-alice")
        composer = pane.composer
        await feed_terminal(app, pilot, "typo hree")
        await pilot.press("enter")
        await until(pilot, lambda: memory.called("send"))
        await pilot.press("up")
        assert composer.text == "typo hree"  # back in the composer to edit
        composer.clear()
        await feed_terminal(app, pilot, "a draft")
        await pilot.press("up")
        assert composer.text == "a draft"  # a draft is never replaced


async def test_a_send_that_cannot_start_gives_the_text_back(build_app, memory) -> None:
    world = three_servers(memory)
    memory.send_error = NoRecipientDevicesError(
        "Alice has no device that can receive messages yet."
    )
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        pane = await _open(app, pilot, world.alpha, "u-alice")
        await feed_terminal(app, pilot, "are you there?")
        await pilot.press("enter")
        await until(pilot, lambda: pane.composer.text == "are you there?", "text restored")
        await until(pilot, lambda: any("no device that can receive" in t for t in toasts(app)))


async def test_the_cursor_stops_blinking_when_nobody_types_and_blinks_again_on_a_key(
    build_app, memory
) -> None:
    """Each blink redraws the screen: an app left alone must not keep doing that."""
    world = three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        pane = await _open(app, pilot, world.alpha, "u-alice")
        composer = pane.composer
        composer.still_after = 0.3
        await feed_terminal(app, pilot, "a")
        assert composer.blinking
        await until(pilot, lambda: not composer.blinking, "the cursor holds still")
        for _ in range(8):  # longer than a blink period (0.5 s): it stays on, unmoving
            assert composer._cursor_visible
            await pilot.pause(0.1)
        await feed_terminal(app, pilot, "b")
        assert composer.blinking and composer.text == "ab"
        await until(pilot, lambda: not composer.blinking, "still again")

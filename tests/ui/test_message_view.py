"""The message view: pages, statuses, retry, and how special messages look."""

from __future__ import annotations

from datetime import timedelta

from peerwave_tui.models import MessageKind, MessageStatus
from tests.ui.conftest import feed_terminal, screen_text, started, until
from tests.ui.memory_manager import BASE_TIME, MemoryManager


def _one_big_conversation(memory: MemoryManager, count: int):
    account = memory.add_account("Alpha", port=3001)
    memory.add_conversation(account, "u-alice", "Alice", messages=count)
    return account


async def test_a_100000_message_conversation_opens_with_one_page(build_app, memory) -> None:
    account = _one_big_conversation(memory, 100_000)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(account.account_id, "u-alice")
        view = app.main.active_pane.message_view
        await until(pilot, lambda: len(view.messages) == 50, "newest page")
        await pilot.pause()
        assert memory.fetched == 50  # only the newest page was read
        assert view.messages[-1].text == "message number 100000"
        assert "message number 100000" in screen_text(app)
        assert view.scroll_y == view.max_scroll_y  # opened at the newest message

        view.scroll_home(animate=False, immediate=True)  # the user scrolls to the top
        await until(pilot, lambda: len(view.messages) == 100, "older page")
        await pilot.pause()
        assert memory.fetched == 100
        assert [call[3] for call in memory.called("messages")] == [None, 99_951]
        assert view.messages[0].text == "message number 99901"
        assert view.scroll_y > 10  # the rows the user was reading stayed in place
        assert view.has_older


async def test_paging_stops_at_the_first_message(build_app, memory) -> None:
    account = _one_big_conversation(memory, 70)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(account.account_id, "u-alice")
        view = app.main.active_pane.message_view
        await until(pilot, lambda: len(view.messages) == 50)
        view.scroll_home(animate=False, immediate=True)
        await until(pilot, lambda: len(view.messages) == 70)
        assert not view.has_older
        view.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        assert len(memory.called("messages")) == 2
        assert "Start of the conversation" in screen_text(app)


async def test_status_marks_follow_pending_stored_read_and_failed_then_retry(
    build_app, memory
) -> None:
    account = _one_big_conversation(memory, 3)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(account.account_id, "u-alice")
        pane = app.main.active_pane
        await until(pilot, lambda: app.focused is pane.composer and pane.message_view.messages)
        await feed_terminal(app, pilot, "status check")
        await pilot.press("enter")
        message = await until(
            pilot,
            lambda: (
                pane.message_view.messages[-1].text == "status check"
                and pane.message_view.messages[-1]
            ),
        )

        def line() -> str:
            return next(row for row in screen_text(app).splitlines() if "status check" in row)

        assert line().split("status check", 1)[1].split()[0] == "…"
        for status, mark in (
            (MessageStatus.STORED, "✓"),
            (MessageStatus.READ, "✓✓"),
            (MessageStatus.FAILED, "! retry"),
        ):
            memory.set_status(account, "u-alice", message.item_id, status)
            await until(pilot, lambda s=status: pane.message_view.messages[-1].status is s)
            await pilot.pause()
            tail = line().split("status check", 1)[1]
            assert tail.split()[0] == mark.split()[0]  # exactly this mark, not another
            assert mark in tail
        await pilot.press("ctrl+r")  # retry every failed message here
        await until(pilot, lambda: memory.called("retry"), "retry")
        assert memory.called("retry") == [("retry", account.account_id, "u-alice", message.item_id)]
        await until(pilot, lambda: pane.message_view.messages[-1].status is MessageStatus.PENDING)

        memory.set_status(account, "u-alice", message.item_id, MessageStatus.FAILED)
        await until(pilot, lambda: "! retry" in line())
        row = next(
            i for i, text in enumerate(screen_text(app).splitlines()) if "status check" in text
        )
        await pilot.click(pane.message_view, offset=(20, row - pane.message_view.region.y))
        await until(pilot, lambda: len(memory.called("retry")) == 2, "retry by click")


async def test_special_messages_day_separators_and_senders(build_app, memory) -> None:
    account = _one_big_conversation(memory, 0)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        memory.deliver(account, "u-alice", "plain hello")
        memory.deliver(account, "u-alice", "", kind=MessageKind.UNDECRYPTABLE)
        memory.deliver(account, "u-alice", "", kind=MessageKind.UNSUPPORTED, detail="file")
        memory.change_identity(account, "u-alice")
        await until(pilot, lambda: app.main.tabs[account.account_id].unread == 3)
        app.main.open_conversation(account.account_id, "u-alice")
        view = app.main.active_pane.message_view
        await until(pilot, lambda: len(view.messages) == 4)
        await pilot.pause()
        text = screen_text(app)
        assert "[could not decrypt]" in text
        assert "[unsupported: file]" in text
        notice = next(row for row in text.splitlines() if "— Alice's safety number" in row)
        inside = notice.split("▕", 1)[1]  # the message view's part of the row
        left = len(inside) - len(inside.lstrip())
        right = len(inside) - len(inside.rstrip())
        assert left > 20 and abs(left - right) <= 3  # centred
        assert "Today" in text  # BASE_TIME + 1 day is "today" in these tests
        assert " Alice" in text  # the sender's name heads the group


async def test_messages_from_earlier_days_get_dated_separators(build_app, memory) -> None:
    account = _one_big_conversation(memory, 0)
    history = memory.histories[(account.account_id, "u-alice")]
    from tests.ui.memory_manager import History

    assert isinstance(history, History)
    history.generated = 3
    app = build_app(today=lambda: (BASE_TIME + timedelta(days=400)).date())
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(account.account_id, "u-alice")
        view = app.main.active_pane.message_view
        await until(pilot, lambda: len(view.messages) == 3)
        await pilot.pause()
        assert "Monday 3 March 2025" in screen_text(app)


async def test_a_burst_of_messages_keeps_the_view_at_the_newest(build_app, memory) -> None:
    account = _one_big_conversation(memory, 10)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(account.account_id, "u-alice")
        view = app.main.active_pane.message_view
        await until(pilot, lambda: len(view.messages) == 10)
        for n in range(300):
            memory.deliver(account, "u-alice", f"burst {n}")
        await until(pilot, lambda: len(view.messages) == 310, "all shown")
        await until(pilot, lambda: "burst 299" in screen_text(app), "the newest is on screen")
        assert view.scroll_y == view.max_scroll_y

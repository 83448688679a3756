"""The bridge: every core event becomes a message; high-rate ones coalesce, and a burst
of received messages becomes one message without losing or reordering any."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from textual.app import App
from textual.widget import Widget

from peerwave_tui import events as ev
from peerwave_tui.errors import NetworkError
from peerwave_tui.models import (
    AccountRecord,
    ChatMessage,
    ConnectionState,
    Direction,
    MessageKind,
    MessageStatus,
)
from peerwave_tui.ui import bridge
from tests.ui.conftest import started, until
from tests.ui.memory_manager import MemoryManager
from tests.ui.worlds import three_servers


def test_every_core_event_kind_has_a_message() -> None:
    kinds = [
        cls
        for cls in vars(ev).values()
        if isinstance(cls, type) and issubclass(cls, ev.Event) and cls is not ev.Event
    ]
    assert kinds
    account = AccountRecord("http://127.0.0.1:1", "k", "c", "e@x")
    samples = {
        ev.AccountAdded: ev.AccountAdded("a", account),
        ev.AccountUpdated: ev.AccountUpdated("a", account),
    }
    for kind in kinds:
        event = samples.get(kind)
        if event is None:
            fields = {f for f in kind.__dataclass_fields__ if f != "account_id"}
            defaults = {
                "state": ConnectionState.CONNECTED,
                "processed": 1,
                "message": "m",
                "user_id": "u",
                "online": True,
                "contact_id": "c",
                "device_id": 1,
                "conversation_id": "c",
                "item_id": "i",
                "status": "stored",
                "conversation": None,
            }
            event = kind("a", **{f: defaults[f] for f in fields if f in defaults})
        message = bridge.to_message(event)
        assert message is not None, kind
        assert message.event is event and message.account_id == "a"

    class Unknown(ev.Event):
        pass

    assert bridge.to_message(Unknown("a")) is None


class _Recorder(Widget):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[bridge.CoreMessage] = []

    def on_connection_changed(self, message: bridge.ConnectionChanged) -> None:
        self.seen.append(message)

    def on_backlog_progress(self, message: bridge.BacklogProgress) -> None:
        self.seen.append(message)

    def on_message_received(self, message: bridge.MessageReceived) -> None:
        self.seen.append(message)


class _RecorderApp(App[None]):
    def compose(self):
        yield _Recorder()


async def test_high_rate_messages_coalesce_but_done_is_kept() -> None:
    app = _RecorderApp()
    async with app.run_test() as pilot:
        recorder = app.query_one(_Recorder)
        for n in range(200):
            state = ConnectionState.CONNECTING if n < 199 else ConnectionState.CONNECTED
            recorder.post_message(bridge.ConnectionChanged(ev.ConnectionChanged("a", state)))
        recorder.post_message(
            bridge.ConnectionChanged(ev.ConnectionChanged("b", ConnectionState.OFFLINE))
        )
        for n in range(100):
            recorder.post_message(bridge.BacklogProgress(ev.BacklogProgress("a", n)))
        recorder.post_message(bridge.BacklogProgress(ev.BacklogProgress("a", 100, done=True)))
        recorder.post_message(bridge.BacklogProgress(ev.BacklogProgress("a", 0)))
        await pilot.pause()
        connection = [m for m in recorder.seen if isinstance(m, bridge.ConnectionChanged)]
        backlog = [m for m in recorder.seen if isinstance(m, bridge.BacklogProgress)]
        assert len(connection) < 20
        last_a = [m for m in connection if m.account_id == "a"][-1]
        assert last_a.event.state is ConnectionState.CONNECTED
        assert [m.account_id for m in connection][-1] == "b"  # other accounts are kept
        assert len(backlog) < 20
        assert any(m.event.done for m in backlog)  # "done" is never replaced


async def test_pump_forwards_events_and_reports_a_failing_stream() -> None:
    memory = MemoryManager()
    posted: list[object] = []
    task = asyncio.create_task(bridge.pump_events(memory, posted.append))
    await asyncio.sleep(0)
    memory.emit(ev.ConnectionChanged("a", ConnectionState.OFFLINE))
    await memory.aclose()
    await asyncio.wait_for(task, 5)
    assert isinstance(posted[0], bridge.ConnectionChanged)
    assert isinstance(posted[-1], bridge.EventStreamEnded) and posted[-1].error is None

    class Broken:
        def events(self) -> AsyncIterator[ev.Event]:
            async def fail() -> AsyncIterator[ev.Event]:
                raise NetworkError("The core lost its way.")
                yield  # pragma: no cover

            return fail()

    posted.clear()
    await bridge.pump_events(Broken(), posted.append)  # type: ignore[arg-type]
    assert isinstance(posted[0], bridge.EventStreamEnded)
    assert posted[0].error == "The core lost its way."


def _received(account: str, n: int) -> ev.MessageReceived:
    message = ChatMessage(
        local_id=n,
        conversation_id="c",
        item_id=f"i{n}",
        sender_id="c",
        sender_device=1,
        direction=Direction.IN,
        kind=MessageKind.TEXT,
        text=f"m{n}",
        timestamp=datetime(2025, 3, 3, tzinfo=UTC),
        status=MessageStatus.RECEIVED,
    )
    return ev.MessageReceived(account, message)


def _delivered(posted: list[object]) -> list[str]:
    return [
        event.message.item_id
        for m in posted
        if isinstance(m, bridge.MessagesReceived)
        for event in m.events
    ]


async def test_a_burst_of_received_messages_becomes_one_message_and_order_is_kept() -> None:
    memory = MemoryManager()
    posted: list[object] = []
    task = asyncio.create_task(bridge.pump_events(memory, posted.append))
    await asyncio.sleep(0)
    for n in range(500):  # a drained page: all published in one go
        memory.emit(_received("a", n))
    memory.emit(ev.BacklogProgress("a", 500))  # may overtake the burst
    # A status change may concern a message of the burst: the burst goes first.
    memory.emit(ev.MessageStatusChanged("a", "c", "i499", MessageStatus.READ))
    for n in range(500, 510):
        memory.emit(_received("b", n))
    await memory.aclose()
    await asyncio.wait_for(task, 5)
    kinds = [type(m).__name__ for m in posted]
    assert kinds == [
        "BacklogProgress",
        "MessagesReceived",
        "MessageStatusChanged",
        "MessagesReceived",
        "EventStreamEnded",
    ]
    assert _delivered(posted) == [f"i{n}" for n in range(510)]  # each once, in order
    second = posted[3]
    assert isinstance(second, bridge.MessagesReceived)
    assert {e.account_id for e in second.events} == {"b"}


async def test_bursts_are_posted_at_most_once_per_interval() -> None:
    memory = MemoryManager()
    posted: list[object] = []
    task = asyncio.create_task(bridge.pump_events(memory, posted.append, burst_interval=0.3))
    await asyncio.sleep(0)
    try:
        memory.emit(_received("a", 1))  # a lone message goes out at once
        for _ in range(5):
            await asyncio.sleep(0)
        assert _delivered(posted) == ["i1"]
        memory.emit(_received("a", 2))  # the next burst waits for the interval
        memory.emit(_received("a", 3))
        await asyncio.sleep(0.02)
        assert _delivered(posted) == ["i1"]
        for _ in range(500):
            if len(posted) == 2:
                break
            await asyncio.sleep(0.01)
        assert _delivered(posted) == ["i1", "i2", "i3"] and len(posted) == 2
    finally:
        await memory.aclose()
        await asyncio.wait_for(task, 5)


async def test_a_burst_in_the_app_shows_every_message_and_exact_unread_counts(
    build_app, memory
) -> None:
    world = three_servers(memory)
    app = build_app(env={"TERM_PROGRAM": "WezTerm"})
    written: list[str] = []
    app.write_terminal = written.append  # type: ignore[method-assign]
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(world.alpha.account_id, "u-alice")
        pane = app.main.server_tabs.pane_for(world.alpha.account_id)
        assert pane is not None
        await until(pilot, lambda: pane.message_view.messages, "Alice's messages")
        sent_open = [memory.deliver(world.alpha, "u-alice", f"open {n}") for n in range(300)]
        for n in range(700):
            memory.deliver(
                world.alpha if n % 2 else world.beta, "u-bob" if n % 2 else "u-carol", f"x{n}"
            )
        beta = app.main.tabs[world.beta.account_id]
        await until(pilot, lambda: beta.unread == 2 + 350, "Carol's unread count")
        alpha = app.main.tabs[world.alpha.account_id]
        await until(pilot, lambda: alpha.conversations["u-bob"].unread == 350, "Bob's")
        shown = [m.item_id for m in pane.message_view.messages]
        assert shown[-300:] == [m.item_id for m in sent_open]  # all of them, in order
        await until(pilot, lambda: alpha.conversations["u-alice"].unread == 0, "read")
        # One alert per conversation for the whole burst: Bob and Carol.
        assert written.count("\a") == 2
        for server in ("Alpha", "Beta"):  # one desktop notification each, for the lot
            assert sum(f"on {server}" in w for w in written) == 1, written

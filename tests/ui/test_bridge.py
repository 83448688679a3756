"""The bridge: every core event becomes a message; high-rate ones coalesce."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from textual.app import App
from textual.widget import Widget

from peerwave_tui import events as ev
from peerwave_tui.errors import NetworkError
from peerwave_tui.models import AccountRecord, ConnectionState
from peerwave_tui.ui import bridge
from tests.ui.memory_manager import MemoryManager


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

"""A dev server killed (SIGKILL) and restarted on the same port and data while a
sequence of messages is in flight: every message arrives exactly once, in order."""

from __future__ import annotations

from pathlib import Path

from peerwave_tui import events as ev
from peerwave_tui.models import ConnectionState, MessageKind
from tests.devserver_fixtures import DevServerProcess
from tests.integration.helpers import (
    EventLog,
    connected,
    contact,
    new_manager,
    received,
    register,
    state_is,
)

COUNT = 40


async def test_messages_in_flight_survive_a_server_crash(tmp_path: Path) -> None:
    async with DevServerProcess(tmp_path / "srv") as proc:
        await proc.start()
        alice_mgr = new_manager(tmp_path / "alice")
        bob_mgr = new_manager(tmp_path / "bob")
        alice_log, bob_log = EventLog(alice_mgr), EventLog(bob_mgr)
        try:
            alice = await register(alice_mgr, proc, "alice@example.org", "Alice")
            bob = await register(bob_mgr, proc, "bob@example.org", "Bob")
            await alice_log.wait_for(connected(alice.account_id))
            await bob_log.wait_for(connected(bob.account_id))
            await alice_mgr.open_conversation(alice.account_id, contact(bob))

            texts = [f"message {i:03d}" for i in range(COUNT)]
            for text in texts:
                await alice_mgr.send(alice.account_id, bob.user_id or "", text)
            # Some have arrived, the rest are queued or on the wire: crash the server.
            await bob_log.wait_count(received(bob.account_id), 5, timeout=60)
            mark = alice_log.mark()
            proc.kill()
            await alice_log.wait_for(
                state_is(alice.account_id, ConnectionState.OFFLINE), after=mark, timeout=30
            )
            await proc.restart()

            await bob_log.wait_for(received(bob.account_id, texts[-1]), timeout=120)
            got = [
                e.message.text
                for e in bob_log.events
                if isinstance(e, ev.MessageReceived)
                and e.account_id == bob.account_id
                and e.message.kind is MessageKind.TEXT
            ]
            assert got == texts  # exactly once, in order
            history = await bob_mgr.messages(bob.account_id, alice.user_id or "", limit=100)
            assert [m.text for m in history] == texts
            # Alice sees every message confirmed in the end.
            client = alice_mgr.client(alice.account_id)
            assert await client.wait_outbox_idle(60)
        finally:
            for log in (alice_log, bob_log):
                await log.close()
            await alice_mgr.aclose()
            await bob_mgr.aclose()

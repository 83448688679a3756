"""Offline delivery: messages written while the sender is offline are queued and go
out in order after the reconnect; messages sent to a receiver that is offline wait
on the server and are drained, in order, when it starts again."""

from __future__ import annotations

from pathlib import Path

from peerwave_tui import events as ev
from peerwave_tui.models import ConnectionState, KeyMode, MessageKind, MessageStatus
from tests.devserver_fixtures import running_devserver
from tests.integration.helpers import (
    EventLog,
    connected,
    contact,
    new_manager,
    received,
    register,
    state_is,
    status_is,
)


def _texts(log: EventLog, account_id: str) -> list[str]:
    return [
        e.message.text
        for e in log.events
        if isinstance(e, ev.MessageReceived)
        and e.account_id == account_id
        and e.message.kind is MessageKind.TEXT
    ]


async def test_receiver_offline_then_drained_in_order(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice_mgr = new_manager(tmp_path / "alice")
        bob_mgr = new_manager(tmp_path / "bob", KeyMode.PASSPHRASE)
        alice_log = EventLog(alice_mgr)
        bob_again = None
        try:
            alice = await register(alice_mgr, server, "alice@example.org", "Alice")
            bob = await register(bob_mgr, server, "bob@example.org", "Bob")
            await alice_log.wait_for(connected(alice.account_id))
            await bob_mgr.aclose()  # Bob is offline from here on

            await alice_mgr.open_conversation(alice.account_id, contact(bob))
            texts = [f"while you were away {i}" for i in range(12)]
            sent = [await alice_mgr.send(alice.account_id, bob.user_id or "", t) for t in texts]
            for message in sent:  # stored on the server although Bob is not there
                await alice_log.wait_for(status_is(message.item_id, MessageStatus.STORED))

            bob_again = new_manager(tmp_path / "bob", KeyMode.PASSPHRASE)
            bob_log = EventLog(bob_again)
            try:
                await bob_again.start()
                await bob_log.wait_for(received(bob.account_id, texts[-1]), 30)
                done = await bob_log.wait_for(
                    lambda e: isinstance(e, ev.BacklogProgress) and e.done and e.processed > 0
                )
                assert isinstance(done, ev.BacklogProgress) and done.processed == len(texts)
                assert _texts(bob_log, bob.account_id) == texts
                convs = await bob_again.conversations(bob.account_id)
                assert [(c.title, c.unread) for c in convs] == [("Alice", len(texts))]
            finally:
                await bob_log.close()
        finally:
            await alice_log.close()
            await alice_mgr.aclose()
            await bob_mgr.aclose()
            if bob_again is not None:
                await bob_again.aclose()


async def test_sender_offline_queues_and_sends_in_order(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv", data_dir=tmp_path / "srv-data") as server:
        dev = server.server
        port = dev.port
        alice_mgr = new_manager(tmp_path / "alice")
        bob_mgr = new_manager(tmp_path / "bob")
        alice_log, bob_log = EventLog(alice_mgr), EventLog(bob_mgr)
        try:
            alice = await register(alice_mgr, server, "alice@example.org", "Alice")
            bob = await register(bob_mgr, server, "bob@example.org", "Bob")
            await alice_log.wait_for(connected(alice.account_id))
            await bob_log.wait_for(connected(bob.account_id))
            await alice_mgr.open_conversation(alice.account_id, contact(bob))

            mark = alice_log.mark()
            await dev.stop()  # the server goes away
            await alice_log.wait_for(
                state_is(alice.account_id, ConnectionState.OFFLINE), after=mark
            )
            texts = [f"queued {i}" for i in range(5)]
            queued = [await alice_mgr.send(alice.account_id, bob.user_id or "", t) for t in texts]
            history = await alice_mgr.messages(alice.account_id, bob.user_id or "")
            assert [m.status for m in history] == [MessageStatus.PENDING] * len(texts)

            dev.config.port = port
            await dev.start()  # back, same address and data
            await bob_log.wait_for(received(bob.account_id, texts[-1]), 60)
            assert _texts(bob_log, bob.account_id) == texts
            for message in queued:
                await alice_log.wait_for(status_is(message.item_id, MessageStatus.STORED))
        finally:
            for log in (alice_log, bob_log):
                await log.close()
            await alice_mgr.aclose()
            await bob_mgr.aclose()

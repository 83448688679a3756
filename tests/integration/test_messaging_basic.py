"""1:1 messaging through the real client stack against a dev server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from peerwave_tui import events as ev
from peerwave_tui.models import Contact, MessageStatus
from tests.devserver_fixtures import running_devserver
from tests.integration.helpers import EventLog, connected, new_manager, received, register


async def test_two_accounts_exchange_messages(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice_mgr = new_manager(tmp_path / "alice")
        bob_mgr = new_manager(tmp_path / "bob")
        alice_log = EventLog(alice_mgr)
        bob_log = EventLog(bob_mgr)
        try:
            alice = await register(alice_mgr, server, "alice@example.org", "Alice")
            bob = await register(bob_mgr, server, "bob@example.org", "Bob")
            await alice_log.wait_for(connected(alice.account_id))
            await bob_log.wait_for(connected(bob.account_id))

            people = await alice_mgr.people(alice.account_id)
            bob_contact = next(p for p in people if p.display_name == "Bob")
            await alice_mgr.open_conversation(alice.account_id, bob_contact)
            sent = await alice_mgr.send(alice.account_id, bob_contact.user_id, "hello bob")
            assert sent.status is MessageStatus.PENDING

            event = await bob_log.wait_for(received(bob.account_id, "hello bob"))
            assert isinstance(event, ev.MessageReceived)
            assert event.message.sender_id == alice.user_id
            await alice_log.wait_for(
                lambda e: (
                    isinstance(e, ev.MessageStatusChanged)
                    and e.item_id == sent.item_id
                    and e.status is MessageStatus.STORED
                )
            )

            # Bob answers (his first message to Alice: he builds his own session).
            alice_contact = Contact(user_id=alice.user_id or "", display_name="Alice")
            await bob_mgr.open_conversation(bob.account_id, alice_contact)
            await bob_mgr.send(bob.account_id, alice.user_id or "", "hi alice")
            await alice_log.wait_for(received(alice.account_id, "hi alice"))

            # Bob reads: Alice's message becomes read.
            await bob_mgr.mark_read(bob.account_id, alice.user_id or "")
            await alice_log.wait_for(
                lambda e: (
                    isinstance(e, ev.MessageStatusChanged)
                    and e.item_id == sent.item_id
                    and e.status is MessageStatus.READ
                )
            )
            history = await alice_mgr.messages(alice.account_id, bob_contact.user_id)
            assert [m.text for m in history] == ["hello bob", "hi alice"]
            assert history[0].status is MessageStatus.READ
        finally:
            await alice_log.close()
            await bob_log.close()
            await alice_mgr.aclose()
            await bob_mgr.aclose()


async def test_a_copy_without_receipt_is_sent_again_as_the_same_bytes(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice_mgr = new_manager(tmp_path / "alice")
        bob_mgr = new_manager(tmp_path / "bob")
        alice_log, bob_log = EventLog(alice_mgr), EventLog(bob_mgr)
        try:
            alice = await register(alice_mgr, server, "alice@example.org", "Alice")
            bob = await register(bob_mgr, server, "bob@example.org", "Bob")
            await alice_log.wait_for(connected(alice.account_id))
            await bob_log.wait_for(connected(bob.account_id))
            client = alice_mgr.client(alice.account_id)
            sender = client._sender
            sender.receipt_timeout = 1.0
            sent: list[dict[str, object]] = []
            real_send = client.socket.send_item

            async def recording_send(**fields: object) -> None:
                sent.append(fields)
                await real_send(**fields)  # type: ignore[arg-type]

            client.socket.send_item = recording_send  # type: ignore[method-assign]
            real_receipts = sender.on_receipts
            dropped: list[object] = []

            async def lose_first(receipts: list[object]) -> None:
                if not dropped:
                    dropped.append(receipts)  # the first receipt never arrives
                    return
                await real_receipts(receipts)  # type: ignore[arg-type]

            sender.on_receipts = lose_first  # type: ignore[method-assign]

            await alice_mgr.open_conversation(
                alice.account_id, Contact(user_id=bob.user_id or "", display_name="Bob")
            )
            message = await alice_mgr.send(alice.account_id, bob.user_id or "", "say it twice")
            await alice_log.wait_for(
                lambda e: (
                    isinstance(e, ev.MessageStatusChanged)
                    and e.item_id == message.item_id
                    and e.status is MessageStatus.STORED
                )
            )
            assert len(sent) == 2
            assert sent[0] == sent[1]  # the same ciphertext, the same itemId
            assert sent[0]["item_id"] == message.item_id
            # The server stored it twice; Bob shows it once.
            await bob_log.wait_for(received(bob.account_id, "say it twice"))
            await bob_mgr.send(bob.account_id, alice.user_id or "", "got it")
            await alice_log.wait_for(received(alice.account_id, "got it"))
            history = await bob_mgr.messages(bob.account_id, alice.user_id or "")
            assert [m.text for m in history] == ["say it twice", "got it"]
            assert len(bob_log.matching(received(bob.account_id, "say it twice"))) == 1
        finally:
            await alice_log.close()
            await bob_log.close()
            await alice_mgr.aclose()
            await bob_mgr.aclose()

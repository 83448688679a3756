"""One account on two devices (linked by magic key): fan-out, sync copies, receipts."""

from __future__ import annotations

from pathlib import Path

from peerwave_tui import events as ev
from peerwave_tui.models import Contact, Direction, MessageStatus
from tests.devserver_fixtures import running_devserver
from tests.integration.helpers import EventLog, connected, new_manager, received, register


async def test_linked_device_gets_copies_and_sync_copies(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        a1 = new_manager(tmp_path / "alice-laptop")
        a2 = new_manager(tmp_path / "alice-phone")
        b = new_manager(tmp_path / "bob")
        logs = {name: EventLog(m) for name, m in (("a1", a1), ("a2", a2), ("b", b))}
        try:
            alice = await register(a1, server, "alice@example.org", "Alice")
            bob = await register(b, server, "bob@example.org", "Bob")
            await logs["a1"].wait_for(connected(alice.account_id))
            key = await a1.magic_key(alice.account_id)
            assert key.split("|")[0] == server.url
            alice2 = await a2.link(key)
            assert alice2.user_id == alice.user_id
            assert alice2.client_id != alice.client_id
            await logs["a2"].wait_for(connected(alice2.account_id))
            await logs["b"].wait_for(connected(bob.account_id))
            assert alice2.device_id not in (None, alice.device_id)

            # Bob writes to Alice: both of her devices get it.
            alice_contact = Contact(user_id=alice.user_id or "", display_name="Alice")
            await b.open_conversation(bob.account_id, alice_contact)
            await b.send(bob.account_id, alice_contact.user_id, "to both")
            await logs["a1"].wait_for(received(alice.account_id, "to both"))
            await logs["a2"].wait_for(received(alice2.account_id, "to both"))

            # Alice answers from the phone: Bob gets it, the laptop gets a sync copy
            # shown as Alice's own outgoing message in the conversation with Bob.
            bob_contact = Contact(user_id=bob.user_id or "", display_name="Bob")
            await a2.open_conversation(alice2.account_id, bob_contact)
            sent = await a2.send(alice2.account_id, bob_contact.user_id, "from phone")
            await logs["b"].wait_for(received(bob.account_id, "from phone"))
            sync = await logs["a1"].wait_for(received(alice.account_id, "from phone"))
            assert isinstance(sync, ev.MessageReceived)
            assert sync.message.direction is Direction.OUT
            assert sync.message.conversation_id == bob.user_id
            await logs["a2"].wait_for(
                lambda e: (
                    isinstance(e, ev.MessageStatusChanged)
                    and e.item_id == sent.item_id
                    and e.status is MessageStatus.STORED
                )
            )

            # Alice reads Bob's message on the laptop: the phone learns it (sync copy of
            # the read receipt) and Bob sees his message read.
            await a1.mark_read(alice.account_id, bob.user_id or "")
            await logs["b"].wait_for(
                lambda e: isinstance(e, ev.MessageStatusChanged) and e.status is MessageStatus.READ
            )
            await logs["a2"].wait_for(
                lambda e: (
                    isinstance(e, ev.ConversationUpdated)
                    and e.conversation.conversation_id == bob.user_id
                    and e.conversation.unread == 0
                )
            )
            convs = await a2.conversations(alice2.account_id)
            assert next(c for c in convs if c.conversation_id == bob.user_id).unread == 0
        finally:
            for log in logs.values():
                await log.close()
            for m in (a1, a2, b):
                await m.aclose()

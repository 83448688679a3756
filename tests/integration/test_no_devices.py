"""A contact with no device that can receive encrypted messages yet: sending says so at
once, the message stays queued, and it goes out by itself once the contact has keys
(on their presence)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from peerwave_tui import events as ev
from peerwave_tui.errors import NoRecipientDevicesError
from peerwave_tui.models import MessageStatus
from tests.devserver_fixtures import create_account, running_devserver
from tests.integration.helpers import (
    EventLog,
    connected,
    new_manager,
    received,
    register,
    status_is,
)


async def test_message_waits_for_a_contact_without_keys(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice_mgr = new_manager(tmp_path / "alice")
        carol_mgr = new_manager(tmp_path / "carol")
        alice_log, carol_log = EventLog(alice_mgr), EventLog(carol_mgr)
        try:
            alice = await register(alice_mgr, server, "alice@example.org", "Alice")
            # Carol's account exists (logged in on the web, say) but has published no keys.
            carol_web = await create_account(
                server.url, server, email="carol@example.org", display_name="Carol"
            )
            await alice_log.wait_for(connected(alice.account_id))
            people = await alice_mgr.people(alice.account_id)
            carol = next(p for p in people if p.display_name == "Carol")
            await alice_mgr.open_conversation(alice.account_id, carol)
            client = alice_mgr.client(alice.account_id)

            message = await alice_mgr.send(alice.account_id, carol.user_id, "waiting for you")
            with pytest.raises(NoRecipientDevicesError):
                await client.wait_stored(message.item_id, 20)
            # Still queued, not failed.
            [pending] = await alice_mgr.messages(alice.account_id, carol.user_id)
            assert pending.status is MessageStatus.PENDING
            # A blocked contact does not hold up the outbox (commands can end).
            assert await client.wait_outbox_idle(10)

            # Carol installs the app: a real login publishes her keys, then she connects.
            record = await carol_mgr.login(
                server.url, "carol@example.org", carol_web.backup_codes[0]
            )
            await carol_log.wait_for(connected(record.account_id))
            got = await carol_log.wait_for(received(record.account_id, "waiting for you"), 30)
            assert isinstance(got, ev.MessageReceived)
            await alice_log.wait_for(status_is(message.item_id, MessageStatus.STORED))
            await asyncio.wait_for(client.wait_stored(message.item_id, 5), 10)
        finally:
            await alice_log.close()
            await carol_log.close()
            await alice_mgr.aclose()
            await carol_mgr.aclose()

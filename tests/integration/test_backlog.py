"""A backlog over several pages, with group items in between (which stay on the
server until they are marked read): the pipelined drain (protocol.md §5.5 offsets)
gets every message exactly once and in order, deletes every 1:1 item, and leaves
exactly the group items."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from peerwave_tui import events as ev
from peerwave_tui.models import KeyMode, MessageKind, MessageStatus
from tests.devserver_fixtures import (
    ReadyAccount,
    SignedHttp,
    SocketProbe,
    create_account,
    running_devserver,
)
from tests.integration.helpers import (
    EventLog,
    connected,
    contact,
    new_manager,
    received,
    register,
    status_is,
)

COUNT = 230  # three pages of 100
GROUP_EVERY = 40


async def test_a_long_backlog_with_group_items_in_between(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice_mgr = new_manager(tmp_path / "alice")
        bob_mgr = new_manager(tmp_path / "bob", KeyMode.PASSPHRASE)
        alice_log = EventLog(alice_mgr)
        probe: SocketProbe | None = None
        bob_again = None
        try:
            alice = await register(alice_mgr, server, "alice@example.org", "Alice")
            bob = await register(bob_mgr, server, "bob@example.org", "Bob")
            await alice_log.wait_for(connected(alice.account_id))
            bob_client = bob_mgr.client(bob.account_id)
            assert bob_client.secrets is not None
            bob_raw = ReadyAccount(
                email="bob@example.org",
                display_name="Bob",
                user_id=bob.user_id or "",
                client_id=bob.client_id,
                session_secret=bob_client.secrets.session_secret or "",
                device_id=bob.device_id or 0,
            )
            await bob_mgr.aclose()  # offline from here

            # Mallory's public channel, which Bob joins (from the web, say).
            mallory = await create_account(server.url, server)
            async with SignedHttp(server.url, mallory) as http:
                status, channel = await http.post(
                    "/client/channels",
                    {"name": "general", "description": "", "private": False, "type": "signal"},
                )
                assert status == 201, channel
            async with SignedHttp(server.url, bob_raw) as http:
                status, body = await http.post(f"/client/channels/{channel['uuid']}/join")
                assert status == 200, body
            probe = SocketProbe(server.url, mallory)
            await probe.start()

            await alice_mgr.open_conversation(alice.account_id, contact(bob))
            texts = [f"backlog {i:03d}" for i in range(COUNT)]
            groups = 0
            last = None
            for i, text in enumerate(texts):
                last = await alice_mgr.send(alice.account_id, bob.user_id or "", text)
                if i % GROUP_EVERY == 0:
                    await alice_log.wait_for(status_is(last.item_id, MessageStatus.STORED), 60)
                    await probe.emit(
                        "sendGroupItem",
                        {
                            "channelId": channel["uuid"],
                            "itemId": str(uuid.uuid4()),
                            "type": "message",
                            "payload": base64.b64encode(os.urandom(60)).decode(),
                            "cipherType": 4,
                            "timestamp": datetime.now(UTC).isoformat(),
                        },
                    )
                    groups += 1
            assert last is not None
            await alice_log.wait_for(status_is(last.item_id, MessageStatus.STORED), 60)

            bob_again = new_manager(tmp_path / "bob", KeyMode.PASSPHRASE)
            bob_log = EventLog(bob_again)
            try:
                await bob_again.start()
                done = await bob_log.wait_for(
                    lambda e: isinstance(e, ev.BacklogProgress) and e.done and e.processed > 0,
                    120,
                )
                # The group items count as processed too (held: no sender key came).
                assert isinstance(done, ev.BacklogProgress)
                assert done.processed == COUNT + groups
                got = [
                    e.message.text
                    for e in bob_log.events
                    if isinstance(e, ev.MessageReceived) and e.message.kind is MessageKind.TEXT
                ]
                assert got == texts  # every one, once, in order
                assert bob_log.matching(received(bob.account_id, texts[-1]))
            finally:
                await bob_log.close()
            # Only the group items are left for Bob on the server.
            async with SignedHttp(server.url, bob_raw) as http:
                status, body = await http.get(
                    "/api/signal/pending-messages/v2", {"limit": "100", "offset": "0"}
                )
            assert status == 200, body
            left = body["items"]
            assert len(left) == groups
            assert all(item.get("channelId") or item.get("channel") for item in left)
        finally:
            if probe is not None:
                await probe.close()
            await alice_log.close()
            await alice_mgr.aclose()
            await bob_mgr.aclose()
            if bob_again is not None:
                await bob_again.aclose()

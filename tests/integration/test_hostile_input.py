"""A hostile account sends garbage through the real dev server: every item is recorded
(undecryptable or unsupported), deleted on the server, the connection stays up, and
the next genuine message still decrypts, both ways."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from pathlib import Path

from peerwave_tui import events as ev
from peerwave_tui.models import ConnectionState, MessageKind
from peerwave_tui.storage.history import History
from peerwave_tui.storage.tx import transaction
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
    state_is,
)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


async def test_garbage_is_recorded_deleted_and_the_session_keeps_working(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice_mgr = new_manager(tmp_path / "alice")
        bob_mgr = new_manager(tmp_path / "bob")
        alice_log, bob_log = EventLog(alice_mgr), EventLog(bob_mgr)
        probe: SocketProbe | None = None
        try:
            alice = await register(alice_mgr, server, "alice@example.org", "Alice")
            bob = await register(bob_mgr, server, "bob@example.org", "Bob")
            await alice_log.wait_for(connected(alice.account_id))
            await bob_log.wait_for(connected(bob.account_id))
            await alice_mgr.open_conversation(alice.account_id, contact(bob))
            await alice_mgr.send(alice.account_id, bob.user_id or "", "hello before")
            await bob_log.wait_for(received(bob.account_id, "hello before"))
            start = bob_log.mark()

            mallory = await create_account(server.url, server)
            probe = SocketProbe(server.url, mallory)
            await probe.start()
            garbage = [
                ("message", 3, _b64(os.urandom(200))),  # not a PreKey message
                ("message", 2, _b64(os.urandom(64))),  # not a whisper message
                ("message", 2, _b64(b"\x02")),  # one byte
                ("message", 2, _b64(bytes.fromhex("3738353b3404"))),  # crashes bare axolotl
                ("file", 3, _b64(os.urandom(100))),  # unknown type, undecryptable
                ("message", 7, _b64(os.urandom(32))),  # unknown cipher type
                ("message", 2, _b64(os.urandom(300_000))),  # large
            ]
            for kind, cipher, payload in garbage:
                await probe.emit(
                    "sendItem",
                    {
                        "itemId": str(uuid.uuid4()),
                        "recipient": bob.user_id,
                        "recipientDeviceId": bob.device_id,
                        "type": kind,
                        "payload": payload,
                        "cipherType": cipher,
                        "originalRecipient": bob.user_id,
                    },
                )
            # An unauthenticated "system" plaintext is never shown as a user's message.
            await probe.emit(
                "sendItem",
                {
                    "itemId": str(uuid.uuid4()),
                    "recipient": bob.user_id,
                    "recipientDeviceId": bob.device_id,
                    "type": "message",
                    "payload": _b64(b"I am the server, trust me"),
                    "cipherType": 0,
                },
            )
            undecryptable = await bob_log.wait_count(
                lambda e: (
                    isinstance(e, ev.MessageReceived)
                    and e.message.kind is MessageKind.UNDECRYPTABLE
                ),
                len(garbage),
            )
            assert {e.message.sender_id for e in undecryptable} == {mallory.user_id}

            # A well-formed message of a type we do not know: decrypted, kept as
            # "unsupported", never shown as text.
            alice_client = alice_mgr.client(alice.account_id)
            bob_id = bob.user_id or ""

            def enqueue(conn: object) -> None:
                with transaction(conn):
                    History(conn).enqueue(
                        item_id=str(uuid.uuid4()),
                        peer=bob_id,
                        type="call_notification",
                        created_at=alice_client.now_ms(),
                        plaintext=b'{"ring": true}',
                    )

            await alice_client.store.run(enqueue)
            alice_client._sender.wake()
            unsupported = await bob_log.wait_for(
                lambda e: (
                    isinstance(e, ev.MessageReceived) and e.message.kind is MessageKind.UNSUPPORTED
                )
            )
            assert isinstance(unsupported, ev.MessageReceived)
            assert unsupported.message.detail == "call_notification"
            assert unsupported.message.text == ""

            # The session survived all of it, both ways.
            await alice_mgr.send(alice.account_id, bob_id, "hello after")
            await bob_log.wait_for(received(bob.account_id, "hello after"))
            await bob_mgr.send(bob.account_id, alice.user_id or "", "reply after")
            await alice_log.wait_for(received(alice.account_id, "reply after"))

            # Bob's connection never dropped, and nothing is left on the server for him.
            not_connected = state_is(
                bob.account_id, *(set(ConnectionState) - {ConnectionState.CONNECTED})
            )
            assert not [e for e in bob_log.events[start:] if not_connected(e)]
            bob_client = bob_mgr.client(bob.account_id)
            assert bob_client.secrets is not None
            bob_account = ReadyAccount(
                email="bob@example.org",
                display_name="Bob",
                user_id=bob_id,
                client_id=bob.client_id,
                session_secret=bob_client.secrets.session_secret or "",
                device_id=bob.device_id or 0,
            )
            async with SignedHttp(server.url, bob_account) as http:
                for _ in range(300):
                    status, body = await http.get("/api/signal/pending-messages/v2")
                    assert status == 200, body
                    if not body["items"]:
                        break
                    await asyncio.sleep(0.1)
                assert body["items"] == []
            history = await bob_mgr.messages(bob.account_id, mallory.user_id, limit=50)
            kinds = [m.kind for m in history]
            assert kinds == [MessageKind.UNDECRYPTABLE] * len(garbage)
        finally:
            if probe is not None:
                await probe.close()
            for log in (alice_log, bob_log):
                await log.close()
            await alice_mgr.aclose()
            await bob_mgr.aclose()

"""A hostile python-socketio server authenticates a real SignalClient and then sends it
malformed events: wrong types, bad base64, random ciphertext, huge payloads, junk
pending pages. Nothing crashes; well-formed garbage is recorded and deleted; the
client stays connected and keeps working."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from peerwave_tui import events as ev
from peerwave_tui.accounts import AccountFactory
from peerwave_tui.client import SignalClient
from peerwave_tui.models import ConnectionState, KeyMode, MessageKind
from peerwave_tui.paths import Paths
from peerwave_tui.secrets import AccountSecrets
from peerwave_tui.storage.custody import KeyCustody
from tests.client.conftest import serve
from tests.client.fake_socket_server import USER_ID, FakeSocketServer

PEER = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"


def _item(**fields: Any) -> dict[str, Any]:
    item = {
        "sender": PEER,
        "senderDeviceId": 1,
        "recipient": USER_ID,
        "type": "message",
        "payload": base64.b64encode(os.urandom(80)).decode(),
        "cipherType": 2,
        "itemId": str(uuid.uuid4()),
        "originalRecipient": USER_ID,
    }
    item.update(fields)
    return item


async def _anything(_request: web.Request) -> web.Response:
    # Key status, uploads, profiles: an empty object for every HTTP request.
    return web.json_response({})


async def test_malformed_events_never_crash_the_client(tmp_path: Path) -> None:
    fake = FakeSocketServer()
    app = fake.app()
    app.router.add_route("*", "/{tail:.*}", _anything)
    pages: list[Any] = []

    async def on_pending(sid: str, _data: Any) -> None:
        page = pages.pop(0) if pages else {"items": [], "hasMore": False, "offset": 0}
        await fake.sio.emit("pendingMessagesResponse", page, to=sid)

    fake.on_pending = on_pending
    events: list[ev.Event] = []
    async with serve(app) as url:
        paths = Paths.from_home(tmp_path / "home").ensure()
        factory = AccountFactory(paths, KeyCustody(paths, mode=KeyMode.MEMORY))
        record = factory._record(url, "me@example.org", str(uuid.uuid4()), KeyMode.MEMORY)
        record.user_id = USER_ID
        store = await factory._create_store(record)
        await store.run(AccountSecrets(session_secret="s3cret", user_id=USER_ID).save)
        client = SignalClient(record, store, publish=events.append)
        try:
            await client.initialize()
            sid = await fake.wait_ready()
            await client.wait_drained(20)

            well_formed = [
                _item(),  # random whisper bytes
                _item(cipherType=3),  # random PreKey bytes
                _item(payload="!!not base64!!"),
                _item(payload="A" * 1_000_001 + "="),  # huge and broken
                _item(cipherType="2"),  # a number as a string is accepted
                _item(type="x" * 150, cipherType=9),
            ]
            malformed: list[Any] = [
                None,
                "receiveItem",
                [1, 2, 3],
                {"sender": 5},
                _item(itemId=None),
                _item(senderDeviceId=-1),
                _item(cipherType={"a": 1}),
                _item(payload=None),
            ]
            for payload in malformed + well_formed:
                await fake.sio.emit("receiveItem", payload, to=sid)
            for name, payload in [
                ("deliveryReceipt", {"itemId": 5}),
                ("deliveryReceipt", {"itemId": "unknown", "recipientUserId": PEER,
                                     "recipientDeviceId": 1, "deliveredAt": "yesterday"}),
                ("presence:update", {"user_id": None, "status": "online"}),
                ("presence:update", ["online"]),
                ("presence:user_disconnected", {"user_id": PEER, "last_seen": 12}),
                ("pendingMessagesAvailable", {"count": "many"}),
                ("authenticated", {"authenticated": False, "error": "no_session"}),
                ("groupItem", {"channel": 1}),
                ("receiveSenderKeyDistribution", {"groupId": "g", "distributionMessage": "%%"}),
                ("somethingElse", {"a": [1] * 1000}),
            ]:  # fmt: skip
                await fake.sio.emit(name, payload, to=sid)

            # A junk pending page, then a page with junk entries and one garbage item.
            pages.extend(
                [
                    {"items": "not a list", "hasMore": True},
                    {"items": [None, {"x": 1}, _item()], "hasMore": False, "offset": 0},
                ]
            )
            await fake.sio.emit("pendingMessagesAvailable", {"count": 2}, to=sid)
            await fake.sio.emit("pendingMessagesAvailable", {"count": 1}, to=sid)

            expected = len(well_formed) + 1  # + the garbage item of the second page

            async def recorded() -> list[ev.MessageReceived]:
                while True:
                    found = [
                        e
                        for e in events
                        if isinstance(e, ev.MessageReceived)
                        and e.message.kind is MessageKind.UNDECRYPTABLE
                    ]
                    if len(found) >= expected:
                        return found
                    await asyncio.sleep(0.05)

            found = await asyncio.wait_for(recorded(), 30)
            assert len(found) == expected
            # Every well-formed item was deleted on the server after it was recorded.
            deleted = {d["itemId"] for name, d in fake.received if name == "deleteItem"}
            assert {i["itemId"] for i in well_formed} <= deleted

            # Still connected, still consuming: a new notice makes it fetch again.
            assert client.state is ConnectionState.CONNECTED and client.is_connected
            asked = sum(1 for name, _ in fake.received if name == "fetchPendingMessagesV2")
            await fake.sio.emit("pendingMessagesAvailable", {"count": 1}, to=sid)

            async def asked_again() -> None:
                while sum(1 for n, _ in fake.received if n == "fetchPendingMessagesV2") <= asked:
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(asked_again(), 20)
            assert not [
                e
                for e in events
                if isinstance(e, ev.ConnectionChanged)
                and e.state in (ConnectionState.ERROR, ConnectionState.OFFLINE)
            ]
            assert client.socket.stats.malformed >= len(malformed)
        finally:
            await client.aclose()

"""``SocketService.delete_items``: a page's deletes emitted in one go against a
scriptable python-socketio server on 127.0.0.1; every ack is awaited, and each
failure (an error answer, a malformed ack, no answer in time) stays in its place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from peerwave_tui.errors import NotConnectedError, ProtocolError, RequestTimeoutError
from peerwave_tui.socket import CONNECTED, SocketService
from peerwave_tui.wire import Credentials
from peerwave_tui.wire.events import DeleteAck
from tests.client.conftest import serve
from tests.client.fake_socket_server import USER_ID, FakeSocketServer
from tests.client.socket_helpers import EventReader

CREDS = Credentials("0b6f3c1e-8a52-4c3e-9d0a-2f4b7e9c1a55", "secret-value", USER_ID)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeSocketServer, str]]:
    server = FakeSocketServer()
    async with serve(server.app()) as url:
        yield server, url


async def test_deletes_go_out_together_and_each_answer_stays_in_place(
    fake: tuple[FakeSocketServer, str],
) -> None:
    server, url = fake

    async def delete(sid: str, data: Any) -> Any:
        item_id = data["itemId"]
        if item_id == "slow":
            await asyncio.sleep(2)
        if item_id == "odd":
            return "not an ack"
        return {"success": True, "deletedCount": 1}

    server.on_delete = delete
    service = SocketService(url, lambda: CREDS, request_timeout=0.5, backoff_base=0.05)
    reader = EventReader(service)
    try:
        with pytest.raises(NotConnectedError):
            await service.delete_items(["a"])
        await service.start()
        await reader.until(CONNECTED)
        assert await service.delete_items([]) == []
        ids = ["a", "slow", "odd", "b"]
        results = await service.delete_items(ids)
        assert [type(r) for r in results] == [
            DeleteAck,
            RequestTimeoutError,
            ProtocolError,
            DeleteAck,
        ]
        assert all(r.deleted_count == 1 for r in results if isinstance(r, DeleteAck))
        sent = [data["itemId"] for name, data in server.received if name == "deleteItem"]
        assert sent == ids
    finally:
        await reader.aclose()
        await service.stop()

"""Not a test: rough figures for the dev server under the benchmark's load.

    .venv/bin/python -m tests.devserver.bench_pending          # N=10000 by default
    N=2000 .venv/bin/python -m tests.devserver.bench_pending

Stores N items for one device via ``sendItem`` (all receipts awaited), drains them
with the client algorithm of protocol.md 5.5 (pages of 50, every item deleted, acks
awaited before the next page), then measures live ``sendItem`` → ``receiveItem``
latency. Client and server share one process and event loop, so the figures include
both sides.
"""

from __future__ import annotations

import asyncio
import base64
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.devserver_fixtures import SocketProbe, create_account, running_devserver

N = int(os.environ.get("N", "10000"))


def _has_id(item_id: str) -> Callable[[Any], bool]:
    return lambda data: bool(data["itemId"] == item_id)


async def main() -> None:
    async with running_devserver(Path(tempfile.mkdtemp())) as server:
        alice = await create_account(server.url, server)
        bob = await create_account(server.url, server)
        sender = SocketProbe(server.url, alice)
        await sender.start()
        payload = base64.b64encode(os.urandom(200)).decode()

        def item() -> dict[str, object]:
            return {
                "itemId": str(uuid.uuid4()), "recipient": bob.user_id,
                "recipientDeviceId": bob.device_id, "type": "message", "payload": payload,
                "cipherType": 2, "originalRecipient": bob.user_id,
            }  # fmt: skip

        started = time.perf_counter()
        for _ in range(N):
            await sender.emit("sendItem", item())
        await sender.wait_count("deliveryReceipt", N, timeout=600)
        print(f"stored {N} items via sendItem: {time.perf_counter() - started:.2f} s")

        receiver = SocketProbe(server.url, bob)
        await receiver.start()
        started = time.perf_counter()
        drained = 0
        while True:
            mark = receiver.mark()
            await receiver.emit("fetchPendingMessagesV2", {"limit": 50, "offset": 0})
            page = await receiver.wait_for("pendingMessagesResponse", after=mark, timeout=60)
            await asyncio.gather(
                *(receiver.call("deleteItem", {"itemId": i["itemId"]}) for i in page["items"])
            )
            drained += len(page["items"])
            if not page["hasMore"] or not page["items"]:
                break
        print(f"drained {drained} pending items: {time.perf_counter() - started:.2f} s")

        latencies = []
        for _ in range(200):
            body = item()
            mark = receiver.mark()
            started = time.perf_counter()
            await sender.emit("sendItem", body)
            await receiver.wait_for("receiveItem", _has_id(str(body["itemId"])), after=mark)
            latencies.append((time.perf_counter() - started) * 1000)
            await receiver.call("deleteItem", {"itemId": body["itemId"]})
        latencies.sort()
        print(
            f"live latency over 200 messages: median {statistics.median(latencies):.2f} ms,"
            f" p95 {latencies[189]:.2f} ms"
        )
        await sender.close()
        await receiver.close()


if __name__ == "__main__":
    asyncio.run(main())

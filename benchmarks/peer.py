"""A benchmark peer: a real Signal identity on a dev server, without a SignalClient.

It registers like any account (over HTTP, with the client's ApiService), keeps its
keys in its own throwaway SQLCipher store through our KeyManager, publishes them,
and talks over a bare socket (``RawSocket``). So its messages are a valid Signal
stream for the measured client, while producing 10,000 of them costs one store
transaction and a burst of ``sendItem`` emits instead of 10,000 trips through the
sender pipeline (which waits for each receipt before the next message).
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from pathlib import Path
from typing import Any

from benchmarks.rawsocket import RawSocket
from benchmarks.servers import DevServer
from peerwave_tui.api import ApiService
from peerwave_tui.keysync import maintain_keys
from peerwave_tui.models import KeyMode
from peerwave_tui.signal import KeyManager
from peerwave_tui.storage.device_store import DeviceStore
from peerwave_tui.storage.tx import transaction
from peerwave_tui.wire.signing import Credentials

RECEIPT_TIMEOUT = 120.0  # for one chunk's receipts on a loaded machine
SEND_CHUNK = 250  # receipts awaited per chunk: backpressure, and the loop stays free for pings


class RawPeer:
    def __init__(self, server: DevServer, home: Path, name: str) -> None:
        self.server = server
        self.home = home
        self.name = name
        self.email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@bench.invalid"
        self.client_id = str(uuid.uuid4())
        self.user_id = ""
        self.device_id = 0
        self.credentials: Credentials | None = None
        self.api: ApiService | None = None
        self.store: DeviceStore | None = None
        self.socket: RawSocket | None = None
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()

    # --- set-up -------------------------------------------------------------------

    async def create(self) -> None:
        """Register, make and publish keys, open the socket."""
        api = ApiService(self.server.url)
        self.api = api
        await api.register(self.email)
        otp = await self.server.read_otp(self.email)
        await api.verify_otp(self.email, otp, self.client_id)
        codes = await api.backup_codes()
        await api.setup_profile(self.name)
        login = await api.login_backup_code(self.email, codes[0], self.client_id)
        self.user_id = login.user_id
        self.credentials = Credentials(self.client_id, login.session_secret, login.user_id)
        api.set_credentials(self.credentials)
        directory = self.home / f"peer-{self.client_id}"
        directory.parent.mkdir(parents=True, exist_ok=True)
        self.store = await DeviceStore.open(
            directory,
            os.urandom(32),
            server_url=self.server.url,
            key_mode=KeyMode.MEMORY,
            keyring_backend=None,
            create=True,
        )
        await self.store.run(lambda conn: KeyManager(conn).ensure_identity())
        await maintain_keys(self.store, api)
        self.socket = RawSocket(self.server.url, self.credentials)
        self.socket.on("receiveItem", self._inbox.put_nowait)
        await self.socket.open()
        self.device_id = self.socket.device_id or 0

    def _parts(self) -> tuple[ApiService, DeviceStore, RawSocket]:
        if self.api is None or self.store is None or self.socket is None:
            raise RuntimeError("peer not created")
        return self.api, self.store, self.socket

    async def start_session(self, user_id: str) -> list[int]:
        """Fetch the user's bundle and build a session with each keyed device; returns
        those device ids."""
        api, store, _ = self._parts()
        devices = [
            d for d in await api.prekey_bundle(user_id) if d.user_id == user_id and d.has_keys
        ]
        bundles = [d.to_device_bundle() for d in devices]
        await store.run(lambda conn: KeyManager(conn).process_bundle(user_id, bundles))
        return [d.device_id for d in devices]

    # --- sending ------------------------------------------------------------------

    async def encrypt(
        self, user_id: str, device_id: int, plaintexts: list[bytes]
    ) -> list[tuple[int, str]]:
        """``(cipherType, base64 payload)`` for each plaintext, in one transaction."""
        _, store, _ = self._parts()

        def encrypt_all(conn: Any) -> list[tuple[int, str]]:
            keys = KeyManager(conn)
            result = []
            with transaction(conn):
                for plaintext in plaintexts:
                    cipher_type, data = keys.encrypt(user_id, device_id, plaintext)
                    result.append((cipher_type, base64.b64encode(data).decode("ascii")))
            return result

        return await store.run(encrypt_all)

    async def send(
        self, user_id: str, device_id: int, ciphertexts: list[tuple[int, str]]
    ) -> list[str]:
        """Emit one ``sendItem`` per ciphertext and wait until the server has stored
        every one (its ``deliveryReceipt``). Returns the item ids, in order."""
        _, _, socket = self._parts()
        expected = socket.counts.get("deliveryReceipt", 0)
        item_ids = []
        for start in range(0, len(ciphertexts), SEND_CHUNK):
            for cipher_type, payload in ciphertexts[start : start + SEND_CHUNK]:
                item_id = str(uuid.uuid4())
                item_ids.append(item_id)
                await socket.send_item(
                    item_id=item_id,
                    recipient=user_id,
                    recipient_device=device_id,
                    payload=payload,
                    cipher_type=cipher_type,
                )
                expected += 1
            await socket.wait_count("deliveryReceipt", expected, RECEIPT_TIMEOUT)
        return item_ids

    # --- receiving ----------------------------------------------------------------

    async def receive(self, timeout: float = 60.0) -> bytes:
        """Decrypt the next live item (a reply that completes the session handshake)
        and delete it on the server."""
        _, store, socket = self._parts()
        item = await asyncio.wait_for(self._inbox.get(), timeout)
        sender, device = str(item["sender"]), int(item["senderDeviceId"])
        cipher_type, payload = int(item["cipherType"]), base64.b64decode(item["payload"])
        result = await store.run(
            lambda conn: KeyManager(conn).decrypt(sender, device, cipher_type, payload)
        )
        await socket.call("deleteItem", {"itemId": item["itemId"]})
        return result.plaintext

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self.api is not None:
            await self.api.aclose()
        if self.store is not None:
            await self.store.aclose()

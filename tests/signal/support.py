"""Test support for the Signal layer: real SQLCipher stores in tmp_path, a fake key
directory standing in for the server's key routes, and row digests."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlcipher3

from peerwave_tui.signal import DeviceBundle, KeyManager, KeyUploadPlan, ServerKeyStatus
from peerwave_tui.storage.schema import migrate

SIGNAL_TABLES = (
    "local_identity",
    "identities",
    "prekeys",
    "signed_prekeys",
    "sessions",
    "sender_keys",
    "kv",
)

START_MS = 1_780_000_000_000


def open_conn(path: Path, key_hex: str) -> Any:
    conn = sqlcipher3.connect(str(path), isolation_level=None)
    conn.execute(f"PRAGMA key = \"x'{key_hex}'\"")
    conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn)
    return conn


def table_digest(conn: Any) -> dict[str, str]:
    """A hash of every row of every Signal table, in primary-key order."""
    digests = {}
    for table in SIGNAL_TABLES:
        h = hashlib.sha256()
        rows = [
            repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row))
            for row in conn.execute(f"SELECT * FROM {table}")
        ]
        for row in sorted(rows):
            h.update(row.encode())
        digests[table] = h.hexdigest()
    return digests


class Clock:
    def __init__(self, start: int = START_MS) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@dataclass
class _Published:
    identity: bytes | None = None
    registration_id: int | None = None
    signed: tuple[int, bytes, bytes] | None = None
    prekeys: dict[int, bytes] = field(default_factory=dict)


class KeyDirectory:
    """What the server's key routes keep: the published keys of every device."""

    def __init__(self) -> None:
        self.devices: dict[tuple[str, int], _Published] = {}

    def upload(self, user_id: str, device_id: int, plan: KeyUploadPlan) -> None:
        pub = self.devices.setdefault((user_id, device_id), _Published())
        if plan.identity is not None:
            pub.identity = base64.b64decode(plan.identity.public_key)
            pub.registration_id = int(plan.identity.registration_id)
        if plan.signed_prekey is not None:
            s = plan.signed_prekey
            pub.signed = (s.id, base64.b64decode(s.data), base64.b64decode(s.signature))
        for batch in plan.prekey_batches():
            for p in batch["preKeys"]:  # type: ignore[union-attr]
                pub.prekeys[p["id"]] = base64.b64decode(p["data"])

    def status(self, user_id: str, device_id: int) -> ServerKeyStatus:
        pub = self.devices.get((user_id, device_id), _Published())
        return ServerKeyStatus(
            identity_key=pub.identity,
            signed_prekey=pub.signed[1] if pub.signed else None,
            prekeys_count=len(pub.prekeys),
        )

    def bundle(
        self, user_id: str, *, take_prekey: bool = True, keep: bool = False
    ) -> list[DeviceBundle]:
        out = []
        for (uid, device_id), pub in sorted(self.devices.items()):
            if uid != user_id or pub.identity is None or pub.signed is None:
                continue
            prekey_id = prekey = None
            if take_prekey and pub.prekeys:
                prekey_id = min(pub.prekeys)
                prekey = pub.prekeys[prekey_id] if keep else pub.prekeys.pop(prekey_id)
            assert pub.registration_id is not None
            out.append(
                DeviceBundle(
                    user_id=uid,
                    device_id=device_id,
                    registration_id=pub.registration_id,
                    identity_key=pub.identity,
                    signed_prekey_id=pub.signed[0],
                    signed_prekey=pub.signed[1],
                    signed_prekey_signature=pub.signed[2],
                    prekey_id=prekey_id,
                    prekey=prekey,
                )
            )
        return out


class Account:
    """One device's store file; every ``keys()`` block opens it afresh from disk."""

    def __init__(
        self, tmp_path: Path, name: str, user_id: str, device_id: int, clock: Clock
    ) -> None:
        self.name = name
        self.user_id = user_id
        self.device_id = device_id
        self.clock = clock
        self.path = tmp_path / f"{name}.db"
        self.key_hex = os.urandom(32).hex()

    @contextmanager
    def keys(self) -> Iterator[KeyManager]:
        conn = open_conn(self.path, self.key_hex)
        try:
            yield KeyManager(conn, clock=self.clock)
        finally:
            conn.close()

    @contextmanager
    def conn(self) -> Iterator[Any]:
        conn = open_conn(self.path, self.key_hex)
        try:
            yield conn
        finally:
            conn.close()

    def digest(self) -> dict[str, str]:
        with self.conn() as conn:
            return table_digest(conn)

    def setup(self, directory: KeyDirectory) -> None:
        with self.keys() as km:
            km.ensure_identity()
            plan = km.public_keys_for_upload()
            directory.upload(self.user_id, self.device_id, plan)
            km.commit_key_maintenance(plan)

    def connect_to(self, directory: KeyDirectory, user_id: str) -> list[Any]:
        with self.keys() as km:
            return km.process_bundle(user_id, directory.bundle(user_id))

    def send(self, other: Account, text: bytes) -> tuple[int, bytes]:
        with self.keys() as km:
            return km.encrypt(other.user_id, other.device_id, text)

    def receive(self, other: Account, message: tuple[int, bytes]) -> bytes:
        with self.keys() as km:
            return km.decrypt(other.user_id, other.device_id, message[0], message[1]).plaintext


def tamper_inner(prekey_message: bytes, index: int) -> bytes:
    """A PreKey message whose inner SignalMessage has one bit flipped (-1: its MAC).

    Everything python-axolotl checks before the MAC still passes, so this reaches
    the point where the library has already saved the sender's identity."""
    from axolotl.protocol import whisperprotos_pb2

    proto = whisperprotos_pb2.PreKeyWhisperMessage()
    proto.ParseFromString(prekey_message[1:])
    inner = bytearray(proto.message)
    inner[index] ^= 0x01
    proto.message = bytes(inner)
    return prekey_message[:1] + proto.SerializeToString()


def skip_sending_chain(keys: KeyManager, user_id: str, device_id: int, steps: int) -> None:
    """Move our sending chain to that device ``steps`` messages on without sending them
    (as if those messages were lost): a fast way to make far-ahead messages."""
    from peerwave_tui.signal.addresses import address_name

    name = address_name(user_id, device_id)
    record = keys.sessions.loadSession(name, device_id)
    state = record.getSessionState()
    chain = state.getSenderChainKey()
    for _ in range(steps):
        chain = chain.getNextChainKey()
    state.setSenderChainKey(chain)
    keys.sessions.storeSession(name, device_id, record)


def skip_group_chain(keys: KeyManager, group_id: str, steps: int) -> None:
    """The same for our own sender key in a group."""
    from axolotl.groups.senderkeyname import SenderKeyName

    from peerwave_tui.signal.addresses import own_sender_address

    name = SenderKeyName(group_id, own_sender_address())
    record = keys.sender_keys.loadSenderKey(name)
    state = record.getSenderKeyState()
    chain = state.getSenderChainKey()
    for _ in range(steps):
        chain = chain.getNext()
    state.setSenderChainKey(chain)
    keys.sender_keys.storeSenderKey(name, record)


def stored_message_keys(keys: KeyManager, user_id: str, device_id: int) -> int:
    from peerwave_tui.signal.addresses import address_name

    name = address_name(user_id, device_id)
    state = keys.sessions.loadSession(name, device_id).getSessionState()
    return sum(len(chain.messageKeys) for chain in state.getStructure().receiverChains)

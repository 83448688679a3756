"""``store.json``: what can be known about a store without its key.

It sits beside ``store.db`` (0600) and holds no secrets: the schema version, how the
key is kept (key mode, keyring backend name, passphrase KDF parameters), the server
URL, the creation time, and an encrypted check value.

The check value exists because SQLCipher says "file is not a database" both for a
wrong key and for a damaged first page. It is a fixed text sealed with AES-256-GCM
under a key derived from the database key: if the key opens the check value, the key
is right and the database file is damaged; if not, the key is wrong.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from peerwave_tui.errors import StoreCorruptError, StoreError
from peerwave_tui.models import KeyMode
from peerwave_tui.storage.fs import write_private_file
from peerwave_tui.storage.kdf import KdfParams

STORE_JSON = "store.json"
STORE_JSON_FORMAT = 1
_MAX_STORE_JSON_BYTES = 64 * 1024

_CHECK_KEY_INFO = b"peerwave-tui store.json key check v1"
_CHECK_PLAINTEXT = b"peerwave-tui: this key opens this store"
_CHECK_AAD = b"peerwave-tui store.json"


@dataclass(frozen=True)
class KeyCheck:
    """AES-256-GCM of a fixed text under a key derived from the database key."""

    nonce: bytes
    sealed: bytes

    @classmethod
    def make(cls, key: bytes) -> KeyCheck:
        nonce = secrets.token_bytes(12)
        return cls(nonce, AESGCM(_check_key(key)).encrypt(nonce, _CHECK_PLAINTEXT, _CHECK_AAD))

    def matches(self, key: bytes) -> bool:
        try:
            opened = AESGCM(_check_key(key)).decrypt(self.nonce, self.sealed, _CHECK_AAD)
        except (InvalidTag, ValueError):
            return False
        return opened == _CHECK_PLAINTEXT

    def to_json(self) -> dict[str, str]:
        return {"algorithm": "aes-256-gcm", "nonce": self.nonce.hex(), "sealed": self.sealed.hex()}

    @classmethod
    def from_json(cls, data: Any) -> KeyCheck:
        if not isinstance(data, dict) or data.get("algorithm") != "aes-256-gcm":
            raise ValueError("key check has an unknown form")
        nonce, sealed = data.get("nonce"), data.get("sealed")
        if not isinstance(nonce, str) or not isinstance(sealed, str):
            raise ValueError("key check is incomplete")
        return cls(bytes.fromhex(nonce), bytes.fromhex(sealed))


def _check_key(key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CHECK_KEY_INFO).derive(key)


@dataclass(frozen=True)
class StoreInfo:
    """The parsed ``store.json``."""

    schema_version: int
    key_mode: KeyMode
    keyring_backend: str | None
    server_url: str
    created: datetime
    kdf: KdfParams | None = None  # passphrase mode only
    key_check: KeyCheck | None = None

    def updated(self, **changes: Any) -> StoreInfo:
        return replace(self, **changes)

    def to_json_bytes(self) -> bytes:
        data: dict[str, Any] = {
            "format": STORE_JSON_FORMAT,
            "schema_version": self.schema_version,
            "key_mode": self.key_mode.value,
            "keyring_backend": self.keyring_backend,
            "server_url": self.server_url,
            "created": self.created.astimezone(UTC).isoformat(timespec="seconds"),
            "kdf": self.kdf.to_json() if self.kdf else None,
            "key_check": self.key_check.to_json() if self.key_check else None,
        }
        return (json.dumps(data, indent=2) + "\n").encode("utf-8")

    @classmethod
    def from_json_bytes(cls, raw: bytes) -> StoreInfo:
        """Parse; ``ValueError`` for anything malformed, ``StoreError`` for a newer format."""
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        fmt = data.get("format")
        if isinstance(fmt, int) and fmt > STORE_JSON_FORMAT:
            raise StoreError(
                "This store was written by a newer peerwave-tui (store.json format "
                f"{fmt}); upgrade peerwave-tui to open it."
            )
        schema_version = data.get("schema_version")
        if not isinstance(schema_version, int) or isinstance(schema_version, bool):
            raise ValueError("schema_version is not a number")
        server_url = data.get("server_url")
        if not isinstance(server_url, str):
            raise ValueError("server_url is missing")
        backend = data.get("keyring_backend")
        if backend is not None and not isinstance(backend, str):
            raise ValueError("keyring_backend is not text")
        created = data.get("created")
        if not isinstance(created, str):
            raise ValueError("created is missing")
        key_mode = data.get("key_mode")
        if not isinstance(key_mode, str):
            raise ValueError("key_mode is missing")
        kdf = data.get("kdf")
        check = data.get("key_check")
        return cls(
            schema_version=schema_version,
            key_mode=KeyMode(key_mode),
            keyring_backend=backend,
            server_url=server_url,
            created=datetime.fromisoformat(created),
            kdf=KdfParams.from_json(kdf) if kdf is not None else None,
            key_check=KeyCheck.from_json(check) if check is not None else None,
        )


def store_json_path(directory: Path) -> Path:
    return directory / STORE_JSON


def read_store_info(directory: Path) -> StoreInfo:
    """Read ``<directory>/store.json`` (blocking, small). No key needed.

    Raises ``StoreError`` when the store does not exist and ``StoreCorruptError``
    when the file is unreadable or malformed: without it the key mode is unknown.
    """
    path = store_json_path(directory)
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_STORE_JSON_BYTES + 1)
    except FileNotFoundError:
        raise StoreError(f"There is no device store in {directory}.") from None
    except OSError as exc:
        raise StoreError(f"Cannot read {path}: {exc.strerror}.") from exc
    if len(raw) > _MAX_STORE_JSON_BYTES:
        raise StoreCorruptError(f"{path} is damaged (far too large).")
    try:
        return StoreInfo.from_json_bytes(raw)
    except StoreError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreCorruptError(
            f"{path} is damaged ({exc}), so this store's key mode is unknown. Restore "
            "the file from a backup, or remove the account and add it again."
        ) from exc


def write_store_info(directory: Path, info: StoreInfo) -> None:
    """Atomically replace ``store.json`` (0600)."""
    write_private_file(store_json_path(directory), info.to_json_bytes())

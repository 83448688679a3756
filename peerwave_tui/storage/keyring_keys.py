"""Store keys as OS keyring entries (blocking calls: run them off the event loop).

Service ``peerwave-tui``, user ``<server-key>/<client-id>``, value the key in hex.
An entry is never replaced, and a new one is read back before it is trusted.
"""

from __future__ import annotations

from typing import Any

from peerwave_tui.errors import KeyCustodyError
from peerwave_tui.storage.keyring_backends import backend_id

SERVICE = "peerwave-tui"
KEY_BYTES = 32


def put_new_key(backend: Any, account_id: str, key: bytes) -> None:
    """Store ``key`` under ``account_id``, never replacing an entry; read it back."""
    try:
        if backend.get_password(SERVICE, account_id) is not None:
            raise KeyCustodyError(
                f"The OS keyring already holds a key for {account_id}; it is never "
                "replaced. Remove the account first."
            )
        backend.set_password(SERVICE, account_id, key.hex())
        stored = backend.get_password(SERVICE, account_id)
    except KeyCustodyError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise KeyCustodyError(
            f"The new key could not be saved in the OS keyring: {describe_error(exc)}. "
            "Nothing was created."
        ) from exc
    if stored != key.hex():
        raise KeyCustodyError(
            f"The OS keyring ({backend_id(backend)}) did not keep the new key. Nothing was created."
        )


def delete_key(backend: Any, account_id: str) -> None:
    try:
        if backend.get_password(SERVICE, account_id) is None:
            return
        backend.delete_password(SERVICE, account_id)
    except Exception as exc:  # noqa: BLE001
        raise KeyCustodyError(
            f"The keyring entry of {account_id} could not be deleted: {describe_error(exc)}."
        ) from exc


def decode_key(value: str) -> bytes | None:
    if len(value) != 2 * KEY_BYTES:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

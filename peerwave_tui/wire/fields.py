"""Field readers for parsing server payloads at the edge.

Every reader raises ``ProtocolError`` (never ``KeyError``/``TypeError``/``ValueError``)
with a message that names the payload and the field but never echoes the value: a
hostile server must not get text of its choice into our logs or dialogs.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from peerwave_tui.errors import ProtocolError

# Ids are uuids or "senderkey-{uuid}-{ms}"; anything much longer is hostile.
MAX_ID_CHARS = 200
# Names, types, reasons and other short texts.
MAX_TEXT_CHARS = 10_000
# A ciphertext or a JSON payload. The PeerWave server's socket.io accepts client
# messages up to 1 MB (maxHttpBufferSize), so a genuine payload never exceeds this.
MAX_PAYLOAD_CHARS = 1_048_576
# Integers we accept: enough for ms timestamps and counters, small enough to be sane.
_MAX_INT = 2**53
_DECIMAL = re.compile(r"-?[0-9]{1,16}")


def obj(data: object, what: str) -> Mapping[str, Any]:
    """``data`` as a JSON object."""
    if not isinstance(data, Mapping):
        raise ProtocolError(f"The server sent a malformed {what} (not an object).")
    return data


def array(data: object, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise ProtocolError(f"The server sent a malformed {what} (not a list).")
    return data


def _bad(what: str, key: str, why: str) -> ProtocolError:
    return ProtocolError(f"The server sent a malformed {what}: field '{key}' {why}.")


def string(d: Mapping[str, Any], key: str, what: str, *, limit: int = MAX_ID_CHARS) -> str:
    """A required, non-empty string of at most ``limit`` characters."""
    value = d.get(key)
    if not isinstance(value, str):
        raise _bad(what, key, "is missing or not a string")
    if not value:
        raise _bad(what, key, "is empty")
    if len(value) > limit:
        raise _bad(what, key, "is too long")
    return value


def opt_string(
    d: Mapping[str, Any], key: str, what: str, *, limit: int = MAX_ID_CHARS
) -> str | None:
    """An optional string: missing, null or empty give ``None``."""
    value = d.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(what, key, "is not a string")
    if len(value) > limit:
        raise _bad(what, key, "is too long")
    return value


def text(d: Mapping[str, Any], key: str, what: str, *, limit: int = MAX_TEXT_CHARS) -> str:
    """A required string that may be empty (descriptions, payloads)."""
    value = d.get(key)
    if not isinstance(value, str):
        raise _bad(what, key, "is missing or not a string")
    if len(value) > limit:
        raise _bad(what, key, "is too long")
    return value


def to_int(value: object) -> int | None:
    """An ``int`` or a decimal ``str`` (protocol.md §0); ``None`` if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        result = value
    elif isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        result = int(value.strip())
    else:
        return None
    return result if -_MAX_INT <= result <= _MAX_INT else None


def integer(d: Mapping[str, Any], key: str, what: str, *, minimum: int | None = None) -> int:
    """A required number that may arrive as ``int`` or decimal ``str``."""
    result = to_int(d.get(key))
    if result is None:
        raise _bad(what, key, "is missing or not a number")
    if minimum is not None and result < minimum:
        raise _bad(what, key, "is out of range")
    return result


def opt_integer(
    d: Mapping[str, Any], key: str, what: str, *, minimum: int | None = None
) -> int | None:
    value = d.get(key)
    if value is None or value == "":
        return None
    result = to_int(value)
    if result is None:
        raise _bad(what, key, "is not a number")
    if minimum is not None and result < minimum:
        raise _bad(what, key, "is out of range")
    return result


def boolean(d: Mapping[str, Any], key: str, what: str) -> bool:
    value = d.get(key)
    if not isinstance(value, bool):
        raise _bad(what, key, "is missing or not a boolean")
    return value


def opt_boolean(d: Mapping[str, Any], key: str, what: str, default: bool = False) -> bool:
    value = d.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(what, key, "is not a boolean")
    return value


def decode_b64(value: str, what: str = "value") -> bytes:
    """Strict standard base64 with padding: only the canonical encoding is accepted."""
    if not isinstance(value, str):
        raise ProtocolError(f"The server sent a malformed {what} (not base64 text).")
    try:
        raw = binascii.a2b_base64(value.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ProtocolError(f"The server sent a malformed {what} (bad base64).") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise ProtocolError(f"The server sent a malformed {what} (bad base64).")
    return raw


def b64_field(
    d: Mapping[str, Any], key: str, what: str, *, limit: int = MAX_PAYLOAD_CHARS
) -> bytes:
    value = string(d, key, what, limit=limit)
    try:
        return decode_b64(value, what)
    except ProtocolError:
        raise _bad(what, key, "is not valid base64") from None


def opt_b64_field(
    d: Mapping[str, Any], key: str, what: str, *, limit: int = MAX_PAYLOAD_CHARS
) -> bytes | None:
    value = opt_string(d, key, what, limit=limit)
    if value is None:
        return None
    try:
        return decode_b64(value, what)
    except ProtocolError:
        raise _bad(what, key, "is not valid base64") from None


def parse_time(value: object) -> datetime | None:
    """An ``iso`` string or ``ms`` number as an aware UTC datetime; ``None`` if neither.

    Timestamps are auxiliary everywhere in the protocol, so a bad one never makes a
    payload unusable: callers get ``None`` and use their own clock.
    """
    if isinstance(value, str) and 0 < len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            ms = to_int(value)
            return _from_ms(ms) if ms is not None else None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    ms = to_int(value)
    return _from_ms(ms) if ms is not None else None


def _from_ms(ms: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def first_present(d: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first key that is present and not null (fields with aliases)."""
    for key in keys:
        value = d.get(key)
        if value is not None:
            return value
    return None


def format_time(value: datetime) -> str:
    """An ``iso`` timestamp as PeerWave writes them: UTC, milliseconds, ``Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

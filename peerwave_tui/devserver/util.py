"""Small helpers shared by the dev server's modules: errors, input checks, time.

Every check raises :class:`InvalidInput`; HTTP routes turn it into ``400 {error}``
and socket events drop the payload (or answer with their own error event).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from datetime import UTC, datetime
from typing import Any

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EMAIL_RE = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")

KEY_SIZE = 33  # 0x05 + 32-byte Curve25519 public key
SIGNATURE_SIZE = 64  # XEdDSA signature
MAX_INT = 2**53 - 1  # what a JavaScript server can represent exactly
MAX_TEXT = 100_000


class ApiError(Exception):
    """An HTTP answer other than success: status, JSON body and optional headers."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def error(status: int, code: str, message: str | None = None) -> ApiError:
    """``{error}`` (plus ``message`` when given), the dev server's usual error body."""
    body: dict[str, Any] = {"error": code}
    if message is not None:
        body["message"] = message
    return ApiError(status, body)


class InvalidInput(ValueError):
    """A request or event payload that does not have the documented shape."""


# ---------------------------------------------------------------- input checks


def same_text(expected: str, given: str) -> bool:
    """Constant-time comparison that also copes with non-ASCII input (which
    ``hmac.compare_digest`` refuses for ``str``)."""
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )


def require_dict(value: Any, what: str = "body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return value


def get_str(
    data: dict[str, Any],
    key: str,
    *,
    required: bool = True,
    allow_empty: bool = False,
    max_len: int = MAX_TEXT,
) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be a string")
    if not allow_empty and not value.strip():
        raise InvalidInput(f"{key} must not be empty")
    if len(value) > max_len:
        raise InvalidInput(f"{key} is too long")
    return value


def need_str(data: dict[str, Any], key: str, **kwargs: Any) -> str:
    value = get_str(data, key, required=True, **kwargs)
    assert value is not None
    return value


def get_int(
    data: dict[str, Any],
    key: str,
    *,
    required: bool = True,
    minimum: int = 0,
    maximum: int = MAX_INT,
    allow_str: bool = False,
) -> int | None:
    """An ``int`` (never a bool); with ``allow_str`` also a decimal string."""
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"{key} is required")
        return None
    return to_int(value, key, minimum=minimum, maximum=maximum, allow_str=allow_str)


def need_int(data: dict[str, Any], key: str, **kwargs: Any) -> int:
    value = get_int(data, key, required=True, **kwargs)
    assert value is not None
    return value


def to_int(
    value: Any, what: str, *, minimum: int = 0, maximum: int = MAX_INT, allow_str: bool = False
) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be an integer")
    if isinstance(value, int):
        number = value
    elif allow_str and isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,16}", value):
        number = int(value)
    else:
        raise InvalidInput(f"{what} must be an integer")
    if not minimum <= number <= maximum:
        raise InvalidInput(f"{what} is out of range")
    return number


def get_bool(data: dict[str, Any], key: str, *, required: bool = True) -> bool | None:
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"{key} is required")
        return None
    if not isinstance(value, bool):
        raise InvalidInput(f"{key} must be true or false")
    return value


def is_uuid(value: Any) -> bool:
    return isinstance(value, str) and UUID_RE.match(value) is not None


def get_uuid(data: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"{key} is required")
        return None
    if not is_uuid(value):
        raise InvalidInput(f"{key} must be a lowercase UUID")
    return str(value)


def need_uuid(data: dict[str, Any], key: str) -> str:
    value = get_uuid(data, key, required=True)
    assert value is not None
    return value


def decode_b64(value: Any, what: str, *, size: int | None = None) -> bytes:
    """Standard base64 with padding; with ``size``, exactly that many bytes."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a base64 string")
    if len(value) % 4:
        raise InvalidInput(f"{what} is not valid base64")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{what} is not valid base64") from exc
    if size is not None and len(raw) != size:
        raise InvalidInput(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


def need_b64(data: dict[str, Any], key: str, *, size: int | None = None) -> str:
    value = data.get(key)
    if value is None:
        raise InvalidInput(f"{key} is required")
    decode_b64(value, key, size=size)
    return str(value)


# ---------------------------------------------------------------------- time


def iso(ms: int) -> str:
    """Unix ms → ``2026-01-01T12:00:00.000Z``."""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_iso(value: Any) -> int | None:
    """An ISO-8601 timestamp with a zone → Unix ms; None for anything else."""
    if not isinstance(value, str) or not ISO_RE.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)

"""Passphrase mode's key derivation: one memory-hard KDF, then HKDF per store.

``passphrase --(Argon2id or scrypt, salt)--> master key --(HKDF-SHA256, account id)--> store key``

The memory-hard step runs once per process (``KeyCustody`` caches the master key), so
start-up costs one KDF however many servers there are. The parameters and salt are
not secret: they live in the data root's ``passphrase.salt`` and are copied into every
passphrase store's ``store.json``, so a store stays openable even if the salt file is
lost. A short verifier derived from the master key lets a wrong passphrase be told at
once, before any store is touched; it gives an attacker nothing the encrypted stores
themselves do not (each guess still costs one memory-hard KDF).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from peerwave_tui.errors import KeyCustodyError

KEY_BYTES = 32
SALT_BYTES = 16
VERIFIER_BYTES = 16

ARGON2ID = "argon2id"
SCRYPT = "scrypt"

# RFC 9106's second recommended option (64 MiB, t=3, p=4): about 0.2 s on a 2-core
# machine. scrypt (128 MiB) is the fallback where cryptography has no Argon2id.
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_ITERATIONS = 3
ARGON2_LANES = 4
SCRYPT_LOG2_N = 17
SCRYPT_R = 8
SCRYPT_P = 1

_STORE_KEY_INFO = b"peerwave-tui store key v1\x00"
_VERIFIER_INFO = b"peerwave-tui passphrase verifier v1"

# Bounds for parameters read from files: a damaged or hostile file must not make us
# allocate gigabytes or spin for minutes.
_MAX_MEMORY_KIB = 1024 * 1024
_MAX_ITERATIONS = 64
_MAX_LANES = 64
_MAX_SCRYPT_LOG2_N = 20


@dataclass(frozen=True)
class KdfParams:
    """Which KDF, with which cost and salt; ``verifier`` checks the master key."""

    algorithm: str
    salt: bytes
    memory_kib: int = 0  # argon2id
    iterations: int = 0  # argon2id
    lanes: int = 0  # argon2id
    log2_n: int = 0  # scrypt
    r: int = 0  # scrypt
    p: int = 0  # scrypt
    verifier: bytes | None = None

    @property
    def cost_key(self) -> tuple[Any, ...]:
        """Everything that determines the master key (not the verifier)."""
        return (
            self.algorithm,
            self.salt,
            self.memory_kib,
            self.iterations,
            self.lanes,
            self.log2_n,
            self.r,
            self.p,
        )

    def with_verifier(self, master_key: bytes) -> KdfParams:
        return replace(self, verifier=master_key_verifier(master_key))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"algorithm": self.algorithm, "salt": self.salt.hex()}
        if self.algorithm == ARGON2ID:
            data |= {
                "memory_kib": self.memory_kib,
                "iterations": self.iterations,
                "lanes": self.lanes,
            }
        else:
            data |= {"log2_n": self.log2_n, "r": self.r, "p": self.p}
        if self.verifier is not None:
            data["verifier"] = self.verifier.hex()
        return data

    @classmethod
    def from_json(cls, data: Any) -> KdfParams:
        """Parse and bound-check; ``ValueError`` when unusable."""
        if not isinstance(data, dict):
            raise ValueError("KDF parameters are not an object")
        algorithm = data.get("algorithm")
        salt = _hex_field(data, "salt")
        if len(salt) < SALT_BYTES or len(salt) > 64:
            raise ValueError("KDF salt has a wrong length")
        verifier = _hex_field(data, "verifier") if data.get("verifier") is not None else None
        if algorithm == ARGON2ID:
            params = cls(
                ARGON2ID,
                salt,
                memory_kib=_int_field(data, "memory_kib", 8, _MAX_MEMORY_KIB),
                iterations=_int_field(data, "iterations", 1, _MAX_ITERATIONS),
                lanes=_int_field(data, "lanes", 1, _MAX_LANES),
                verifier=verifier,
            )
            if params.memory_kib < 8 * params.lanes:
                raise ValueError("Argon2id memory is below 8 KiB per lane")
            return params
        if algorithm == SCRYPT:
            params = cls(
                SCRYPT,
                salt,
                log2_n=_int_field(data, "log2_n", 10, _MAX_SCRYPT_LOG2_N),
                r=_int_field(data, "r", 1, 32),
                p=_int_field(data, "p", 1, 16),
                verifier=verifier,
            )
            if _scrypt_memory(params) > _MAX_MEMORY_KIB * 1024:
                raise ValueError("scrypt parameters need too much memory")
            return params
        raise ValueError(f"unknown KDF {algorithm!r}")


def argon2id_available() -> bool:
    try:
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id  # noqa: F401
    except ImportError:
        return False
    return True


def default_params() -> KdfParams:
    """Fresh parameters with a new random salt (no verifier yet)."""
    salt = secrets.token_bytes(SALT_BYTES)
    if argon2id_available():
        return KdfParams(
            ARGON2ID,
            salt,
            memory_kib=ARGON2_MEMORY_KIB,
            iterations=ARGON2_ITERATIONS,
            lanes=ARGON2_LANES,
        )
    return KdfParams(SCRYPT, salt, log2_n=SCRYPT_LOG2_N, r=SCRYPT_R, p=SCRYPT_P)


# cryptography 50's Argon2id deadlocks when two threads derive at the same time (two
# KeyCustody objects in one process, e.g. the demo's contacts). This lock guards the
# library, not our state: derivations in one process simply take turns.
_ARGON2_LOCK = threading.Lock()


def derive_master_key(passphrase: str, params: KdfParams) -> bytes:
    """The memory-hard step (slow on purpose; run it off the event loop)."""
    with _ARGON2_LOCK:
        return _derive(passphrase, params)


def _derive(passphrase: str, params: KdfParams) -> bytes:
    secret = passphrase.encode("utf-8")
    if params.algorithm == ARGON2ID:
        try:
            from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
        except ImportError as exc:
            raise KeyCustodyError(
                "This store's passphrase key uses Argon2id, which needs the Python package "
                "cryptography 44 or newer; upgrade it and try again."
            ) from exc
        kdf = Argon2id(
            salt=params.salt,
            length=KEY_BYTES,
            iterations=params.iterations,
            lanes=params.lanes,
            memory_cost=params.memory_kib,
        )
        return kdf.derive(secret)
    if params.algorithm == SCRYPT:
        n = 1 << params.log2_n
        return hashlib.scrypt(
            secret,
            salt=params.salt,
            n=n,
            r=params.r,
            p=params.p,
            maxmem=2 * _scrypt_memory(params),
            dklen=KEY_BYTES,
        )
    raise KeyCustodyError(f"Unknown passphrase KDF {params.algorithm!r}.")


def master_key_verifier(master_key: bytes) -> bytes:
    return _hkdf(master_key, _VERIFIER_INFO, VERIFIER_BYTES)


def verifier_matches(master_key: bytes, params: KdfParams) -> bool:
    """True when ``params`` has no verifier (nothing to check) or it matches."""
    if params.verifier is None:
        return True
    return hmac.compare_digest(master_key_verifier(master_key), params.verifier)


def derive_store_key(master_key: bytes, account_id: str) -> bytes:
    """A store's own 32-byte database key: HKDF-SHA256 with the account id as info."""
    return _hkdf(master_key, _STORE_KEY_INFO + account_id.encode("utf-8"), KEY_BYTES)


def salt_file_bytes(params: KdfParams) -> bytes:
    """The data root's ``passphrase.salt``: the parameters new stores use."""
    data = {
        "format": 1,
        "note": "peerwave-tui passphrase KDF parameters (not secret)",
        "kdf": params.to_json(),
    }
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def read_salt_file(path: Path) -> KdfParams | None:
    """Parse ``passphrase.salt``; None when it does not exist (blocking, small)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyCustodyError(f"Cannot read {path}: {exc.strerror}.") from exc
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("format") != 1:
            raise ValueError("unknown format")
        return KdfParams.from_json(data.get("kdf"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeyCustodyError(
            f"{path} (the passphrase KDF salt) is damaged ({exc}). Stores record their "
            "own salt; move the file away to start a new one for new stores."
        ) from exc


def _scrypt_memory(params: KdfParams) -> int:
    # OpenSSL's own estimate of scrypt's working memory: 128 * r * (N + p + 2) bytes.
    return 128 * params.r * ((1 << params.log2_n) + params.p + 2)


def _hkdf(key: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key)


def _hex_field(data: dict[str, Any], name: str) -> bytes:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} is missing")
    return bytes.fromhex(value)


def _int_field(data: dict[str, Any], name: str, low: int, high: int) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} is out of range")
    return value

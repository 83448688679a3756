"""Which keyring backends may hold a database key.

Only real OS keyrings qualify: Secret Service (directly or through libsecret), the
macOS Keychain, the Windows Credential Locker and KWallet. Everything else is refused:
keyring's ``fail`` backend (headless Linux), the ``null`` backend, and file backends
such as keyrings.alt's ``PlaintextKeyring`` and ``EncryptedKeyring``, which would put
the key next to the data it protects. The check is an allow-list, so an unknown
third-party backend is refused too, and a backend whose module or class looks file
based is refused even if it derives from an allowed class.

keyring's ``ChainerBackend`` (the default once keyrings.alt is installed) is looked
into: as a whole it counts as secure only when every backend it chains is, because
its ``set_password`` falls through to the next backend and its ``get_password``
reads from all of them. ``select_secure_backend`` picks the best secure backend out
of a chainer, so the app talks to that one directly and never to a plaintext file.

Everything here is pure: it looks at classes, and never calls the backend.
"""

from __future__ import annotations

import re
from typing import Any

# Compared against every class in the backend's MRO (module + qualified name), so
# the platform modules never need importing here.
SECURE_BACKEND_CLASSES = frozenset(
    {
        "keyring.backends.SecretService.Keyring",
        "keyring.backends.libsecret.Keyring",
        "keyring.backends.macOS.Keyring",
        "keyring.backends.Windows.WinVaultKeyring",
        "keyring.backends.kwallet.DBusKeyring",
    }
)

FAIL_BACKEND = "keyring.backends.fail.Keyring"
NULL_BACKEND = "keyring.backends.null.Keyring"
CHAINER_BACKEND = "keyring.backends.chainer.ChainerBackend"

_FILE_LIKE = re.compile(r"keyrings\.alt|file|plaintext|crypt|insecure", re.IGNORECASE)


def backend_id(backend: Any) -> str:
    """``module.Class`` of a backend instance (what ``store.json`` records)."""
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _class_ids(backend: Any) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(backend).__mro__}


def is_chainer(backend: Any) -> bool:
    return CHAINER_BACKEND in _class_ids(backend)


def chained_backends(backend: Any) -> list[Any]:
    """The backends a chainer delegates to, best first ([] if it cannot say)."""
    try:
        return list(type(backend).backends)
    except Exception:  # noqa: BLE001 - a backend that fails to load is simply absent
        return []


def _is_secure_single(backend: Any) -> bool:
    ids = _class_ids(backend)
    if FAIL_BACKEND in ids or NULL_BACKEND in ids or CHAINER_BACKEND in ids:
        return False
    if _FILE_LIKE.search(backend_id(backend)):
        return False
    return bool(ids & SECURE_BACKEND_CLASSES)


def is_secure_backend(backend: Any) -> bool:
    """May this backend, exactly as it is, hold a database key?"""
    if backend is None:
        return False
    if is_chainer(backend):
        members = chained_backends(backend)
        return bool(members) and all(_is_secure_single(member) for member in members)
    return _is_secure_single(backend)


def select_secure_backend(backend: Any) -> Any | None:
    """The backend to use for keys: ``backend`` itself, the best secure backend inside
    a chainer, or None when there is none."""
    if backend is None:
        return None
    if is_chainer(backend):
        for member in chained_backends(backend):
            if _is_secure_single(member):
                return member
        return None
    return backend if _is_secure_single(backend) else None


def describe_backend(backend: Any) -> str:
    """Why ``backend`` cannot hold keys (or its name when it can), as a clause for
    error messages."""
    if backend is None:
        return "no keyring backend was loaded"
    ids = _class_ids(backend)
    name = backend_id(backend)
    if FAIL_BACKEND in ids:
        return "no OS keyring was found (keyring's fail backend)"
    if NULL_BACKEND in ids:
        return "keyring uses its null backend, which stores nothing"
    if CHAINER_BACKEND in ids:
        members = ", ".join(backend_id(member) for member in chained_backends(backend))
        return f"keyring's chainer backend holds no OS keyring, only [{members}]"
    if _FILE_LIKE.search(name):
        return f"keyring uses {name}, which keeps secrets in a file"
    if not ids & SECURE_BACKEND_CLASSES:
        return f"keyring uses {name}, which is not a known OS keyring"
    return name

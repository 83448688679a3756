"""Signal protocol for peerwave-tui: python-axolotl made fit, the five stores, keys.

Importing this package first rebuilds python-axolotl's protobuf modules for today's
protobuf (``compat``) and then hardens the library (``hardening``); nothing may
import ``axolotl`` before that, so every axolotl import lives below this package.

Everything here is synchronous and runs in a server's single store thread, on that
store's SQLCipher connection (python-axolotl has no locking at all).
"""

from __future__ import annotations

from peerwave_tui.signal import compat

compat.install()

from peerwave_tui.signal import hardening  # noqa: E402

hardening.apply()

from peerwave_tui.signal.bundles import DeviceBundle, KnownDevice, TrustEvent, TrustEventKind  # noqa: E402
from peerwave_tui.signal.cipher import DecryptResult  # noqa: E402
from peerwave_tui.signal.key_manager import KeyManager  # noqa: E402
from peerwave_tui.signal.lifecycle import (  # noqa: E402
    CleanupResult,
    IdentityUpload,
    KeyStatusLike,
    KeyUploadPlan,
    PreKeyUpload,
    ServerKeyStatus,
    SignedPreKeyUpload,
)
from peerwave_tui.signal.safety import format_safety_number, safety_number  # noqa: E402

__all__ = [
    "CleanupResult",
    "DecryptResult",
    "DeviceBundle",
    "IdentityUpload",
    "KeyManager",
    "KeyStatusLike",
    "KeyUploadPlan",
    "KnownDevice",
    "PreKeyUpload",
    "ServerKeyStatus",
    "SignedPreKeyUpload",
    "TrustEvent",
    "TrustEventKind",
    "format_safety_number",
    "safety_number",
]

"""Safety numbers from a freshly fetched bundle (signal-notes.md, "Safety numbers").

Both users must hash the same key sets: each side's keys are that user's keyed devices
in a fresh bundle of the contact (which lists the contact's devices and ours),
including keys of changes not yet accepted.
"""

from __future__ import annotations

from typing import Any

from peerwave_tui.errors import NoRecipientDevicesError
from peerwave_tui.models import SafetyNumber
from peerwave_tui.signal import KeyManager, safety_number
from peerwave_tui.wire import BundleDevice


def safety_number_for(
    conn: Any, my_user_id: str, contact_id: str, devices: list[BundleDevice]
) -> SafetyNumber:
    """Runs in the store thread (it reads our trust records)."""
    keys = KeyManager(conn)
    mine = [d.identity_key for d in devices if d.user_id == my_user_id and d.identity_key]
    theirs = [d.identity_key for d in devices if d.user_id == contact_id and d.identity_key]
    if not mine:
        mine = [keys.identity_key()]
    if not theirs:
        raise NoRecipientDevicesError(
            "This contact has no device with published keys yet, so there is no safety number."
        )
    digits = safety_number(my_user_id, mine, contact_id, theirs)
    known = keys.known_devices(contact_id)
    return SafetyNumber(
        contact_id=contact_id,
        digits=digits,
        verified=keys.is_verified(contact_id),
        changed=any(k.pending_key is not None for k in known),
        devices=sorted(d.device_id for d in devices if d.user_id == contact_id and d.has_keys),
    )

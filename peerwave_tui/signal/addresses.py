"""The one mapping between PeerWave device addresses and local axolotl address names.

On the wire a device is ``(userId, device_id)``. python-axolotl keys identities by
address *name* only (signal-notes.md row 7b), and every PeerWave device has its own
identity key, so each device gets its own local name ``"{userId}.{device_id}"``. The
name never goes on the wire; it only keys local rows (sessions, identities, sender
keys). Nothing else in the code builds or splits these names.
"""

from __future__ import annotations

from axolotl.axolotladdress import AxolotlAddress

# Our own sender keys are stored under this address. It never collides with a peer:
# PeerWave user ids are UUIDs. (Our own *other* devices use their real address.)
OWN_SENDER_USER = "self"
OWN_SENDER_DEVICE = 0

MAX_DEVICE_ID = 2**31 - 1


def address_name(user_id: str, device_id: int) -> str:
    """The local name of device ``device_id`` of ``user_id``."""
    if not user_id or "\x00" in user_id:
        raise ValueError("a user id is required")
    if isinstance(device_id, bool) or not isinstance(device_id, int):
        raise ValueError("a device id must be an int")
    if not 0 <= device_id <= MAX_DEVICE_ID:
        raise ValueError("device id out of range")
    return f"{user_id}.{device_id}"


def parse_address_name(name: str) -> tuple[str, int]:
    """``(user_id, device_id)`` back from a local name made by :func:`address_name`."""
    user_id, sep, device = name.rpartition(".")
    if not sep or not user_id or not device.isdigit():
        raise ValueError("not a local address name")
    return user_id, int(device)


def axolotl_address(user_id: str, device_id: int) -> AxolotlAddress:
    return AxolotlAddress(address_name(user_id, device_id), device_id)


def own_sender_address() -> AxolotlAddress:
    return axolotl_address(OWN_SENDER_USER, OWN_SENDER_DEVICE)

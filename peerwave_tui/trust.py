"""Trust in contacts' devices: safety numbers and the notices trust events leave.

Safety numbers come from a freshly fetched bundle (signal-notes.md, "Safety
numbers"): both users must hash the same key sets, so each side's keys are that
user's keyed devices in a fresh bundle of the contact (which lists the contact's
devices and ours), including keys of changes not yet accepted.

Trust events (a contact's new device, a changed identity key) become a notice in the
conversation with that contact, so they are still there after a restart, and are
published as events. The first devices of a contact we never knew are trusted on
first use without a notice: "new device" is only news next to an older one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from peerwave_tui import events as ev
from peerwave_tui.errors import NoRecipientDevicesError
from peerwave_tui.models import ChatMessage, MessageStatus, SafetyNumber
from peerwave_tui.signal import KeyManager, TrustEvent, TrustEventKind, safety_number
from peerwave_tui.storage.history import History
from peerwave_tui.storage.tx import transaction
from peerwave_tui.wire import BundleDevice

if TYPE_CHECKING:
    from peerwave_tui.client import SignalClient

IDENTITY_CHANGED_NOTICE = (
    "The safety number with this contact changed (their device {device} has a new key). "
    "Messages to them wait until you verify it and accept the new key."
)
NEW_DEVICE_NOTICE = "This contact has a new device (device {device})."


@dataclass
class TrustNews:
    """What a batch of trust events means for the user."""

    events: list[TrustEvent] = field(default_factory=list)  # worth telling
    notices: list[ChatMessage] = field(default_factory=list)  # history rows written


def record_trust_events(
    conn: Any, events: list[TrustEvent], my_user_id: str, now_ms: int
) -> TrustNews:
    """Runs in the store thread, inside the caller's transaction."""
    news = TrustNews()
    if not events:
        return news
    keys = KeyManager(conn)
    history = History(conn)
    new_devices: dict[str, set[int]] = {}
    for event in events:
        if event.kind is TrustEventKind.NEW_DEVICE:
            new_devices.setdefault(event.user_id, set()).add(event.device_id)
    for event in events:
        if event.kind is TrustEventKind.NEW_DEVICE:
            known = {d.device_id for d in keys.known_devices(event.user_id)}
            if not known - new_devices[event.user_id]:
                continue  # a contact's first devices: trusted on first use, quietly
            text = NEW_DEVICE_NOTICE
        elif event.kind is TrustEventKind.IDENTITY_CHANGED:
            text = IDENTITY_CHANGED_NOTICE
        else:
            continue  # an invalid bundle is logged by the caller, not shown
        news.events.append(event)
        if event.user_id == my_user_id:
            continue  # our own devices have no conversation to put a notice in
        notice = history.insert_notice(
            event.user_id,
            event.user_id,
            event.device_id,
            text.format(device=event.device_id),
            now_ms,
        )
        if notice is not None:
            news.notices.append(notice)
    return news


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


# --- operations of a client (async, on the loop) -------------------------------------


async def refresh_devices(client: SignalClient, contact_id: str) -> list[BundleDevice]:
    """Fetch the contact's bundle now and record what it says (new devices, changed
    keys); the fresh device list also replaces the sender's cache."""
    from peerwave_tui.sender import process_bundle

    devices = await client.http(lambda: client.api.prekey_bundle(contact_id))
    me, own, now = client.me, client.record.client_id, client.now_ms()
    news = await client.store.run(
        lambda conn: process_bundle(conn, contact_id, devices, me, own, now)
    )
    client.on_trust_news(news)
    return devices


async def safety_number_of(client: SignalClient, contact_id: str) -> SafetyNumber:
    """The safety number from a freshly fetched bundle (which is also processed)."""
    devices = await refresh_devices(client, contact_id)
    me = client.me
    return await client.store.run(lambda c: safety_number_for(c, me.user_id, contact_id, devices))


async def requeue_after_trust(client: SignalClient, contact_id: str) -> None:
    """The contact's keys are trusted again: messages that failed on the identity
    change go out (in their original order), built from a fresh bundle."""

    def requeue(conn: Any) -> list[str]:
        history = History(conn)
        with transaction(conn):
            history.forget_bundle(contact_id)
            failed = [i.item_id for i in history.failed_outgoing(contact_id)]
            for item_id in failed:
                history.drop_copies(item_id)
                history.set_outgoing_state(item_id, "queued")
                history.set_status(item_id, MessageStatus.PENDING)
        return failed

    requeued = await client.store.run(requeue)
    for item_id in requeued:
        client.publish(
            ev.MessageStatusChanged(client.account_id, contact_id, item_id, MessageStatus.PENDING)
        )
    client.outbox_changed(contact_id)
    client.schedule_conversation_update(contact_id)

"""Presence of our contacts (protocol.md §5.8): ``presence:update`` events, and the
initial state after each connect from their profiles. A contact coming online may
now have the keys its waiting messages need."""

from __future__ import annotations

from typing import TYPE_CHECKING

from peerwave_tui import events as ev
from peerwave_tui.models import ConversationKind
from peerwave_tui.storage.history import History
from peerwave_tui.wire import PresenceUpdate

if TYPE_CHECKING:
    from peerwave_tui.client import SignalClient


async def on_presence(client: SignalClient, presence: PresenceUpdate) -> None:
    """Presence is tracked for known contacts; a peer coming online may now have
    the keys its queued messages wait for."""
    last_seen = int(presence.last_seen.timestamp() * 1000) if presence.last_seen else None
    changed = await client.store.run(
        lambda c: History(c).set_presence(presence.user_id, presence.online, last_seen)
    )
    if changed:
        client.publish(
            ev.PresenceChanged(
                client.account_id, presence.user_id, presence.online, presence.last_seen
            )
        )
    if presence.online:
        client.peer_online(presence.user_id)


async def refresh_presence(client: SignalClient) -> None:
    """Initial presence of our conversation partners, after a connect (§5.8)."""
    convs = await client.store.run(lambda c: History(c).conversations())
    ids = [c.conversation_id for c in convs if c.kind is ConversationKind.DIRECT][:200]
    if not ids:
        return
    profiles = await client.http(lambda: client.api.profiles(ids))
    before = {c.user_id: c.online for c in await client.known_contacts()}
    await client.save_contacts(profiles)
    for p in profiles:
        if before.get(p.user_id) != p.online:
            client.publish(ev.PresenceChanged(client.account_id, p.user_id, p.online, p.last_seen))
        if p.online:
            client.peer_online(p.user_id)

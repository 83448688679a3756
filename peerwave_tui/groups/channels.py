"""Channel operations of one account (protocol.md §6.1): list, discover, create, join,
leave, members, and finding a channel by name or id. Async, on the loop; the store
parts run in the account's store thread.

``channels.joined_at`` (items older than it are dropped quietly) is the time of our
join when it happens on this device (create, join). A channel first seen otherwise
(joined on another device, or before a reinstall) gets the later of its creation and
this device's birth: this device cannot have been in it earlier.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from peerwave_tui.errors import (
    AmbiguousError,
    ApiError,
    AuthError,
    NetworkError,
    NotFoundError,
    UsageError,
)
from peerwave_tui.groups.inbound import device_birth
from peerwave_tui.groups.tables import GroupTables
from peerwave_tui.models import Channel, ChannelMember, datetime_to_ms
from peerwave_tui.storage.tx import transaction
from peerwave_tui.wire import Channel as WireChannel

if TYPE_CHECKING:
    from peerwave_tui.client import SignalClient

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
DISCOVER_PAGE = 50
DISCOVER_MAX = 1000


def _model(channel: WireChannel, member_count: int | None = None, member: bool = True) -> Channel:
    return Channel(
        channel_id=channel.channel_id,
        name=channel.name,
        description=channel.description,
        private=channel.private,
        owner=channel.owner,
        member_count=member_count,
        member=member,
    )


async def refresh_channels(client: SignalClient, *, counts: bool) -> list[Channel]:
    """Our channels from the server, recorded locally (a channel no longer listed is
    one we left, or were removed from); with ``counts``, member counts too."""
    listed = await client.http(client.api.channels)
    now = client.api.server_time_ms()

    def save(conn: Any) -> list[str]:
        tables = GroupTables(conn)
        birth = device_birth(conn)
        gone = []
        with transaction(conn):
            ids = set()
            for channel in listed:
                ids.add(channel.channel_id)
                row = tables.channel(channel.channel_id)
                created = datetime_to_ms(channel.created_at) if channel.created_at else 0
                if row is None:
                    tables.upsert_channel(_model(channel), max(created, birth))
                else:  # a channel we had left and are in again: from now on
                    tables.upsert_channel(_model(channel), now, rejoined=row.left_at is not None)
            for row in tables.channels():
                if row.channel_id not in ids and tables.set_left(row.channel_id, now):
                    gone.append(row.channel_id)
        return gone

    gone = await client.store.run(save)
    if counts:
        for channel in listed:
            await count_members(client, channel.channel_id)
    for channel_id in [c.channel_id for c in listed] + gone:
        client.schedule_conversation_update(channel_id)
    return await local_channels(client)


async def local_channels(client: SignalClient) -> list[Channel]:
    rows = await client.store.run(lambda c: GroupTables(c).channels())
    return [row.to_channel() for row in rows]


async def count_members(client: SignalClient, channel_id: str) -> int | None:
    """Members counted from the member-device list (not the rate-limited /api route)."""
    try:
        devices = await client.http(lambda: client.api.channel_member_devices(channel_id))
    except ApiError as exc:
        if isinstance(exc, AuthError):
            raise
        log.info("member count unavailable (%s)", exc.status)
        return None
    count = len({d.user_id for d in devices})
    changed = await client.store.run(lambda c: _set_count(c, channel_id, count))
    if changed:
        client.schedule_conversation_update(channel_id)
    return count


def _set_count(conn: Any, channel_id: str, count: int) -> bool:
    with transaction(conn):
        return GroupTables(conn).set_member_count(channel_id, count)


async def discover(client: SignalClient) -> list[Channel]:
    """Public channels (ours marked as such), page by page."""
    mine = {c.channel_id for c in await local_channels(client)}
    found: list[Channel] = []
    offset = 0
    while offset < DISCOVER_MAX:
        page = await client.http(partial(client.api.discover_channels, DISCOVER_PAGE, offset))
        found.extend(_model(c, member=c.channel_id in mine) for c in page.channels)
        if not page.has_more or not page.channels:
            break
        offset += DISCOVER_PAGE
    unique = {c.channel_id: c for c in found}
    return list(unique.values())


async def create(
    client: SignalClient, name: str, description: str = "", private: bool = False
) -> Channel:
    name = name.strip()
    if not name:
        raise UsageError("A channel needs a name.")
    if len(name) > MAX_NAME_CHARS:
        raise UsageError(f"A channel name has at most {MAX_NAME_CHARS} characters.")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise UsageError(f"A description has at most {MAX_DESCRIPTION_CHARS} characters.")
    channel = await client.http(lambda: client.api.create_channel(name, description, private))
    await _joined(client, channel, 1)
    return _model(channel, 1)


async def join(client: SignalClient, channel_id: str) -> Channel:
    try:
        channel = await client.http(lambda: client.api.join_channel(channel_id))
    except ApiError as exc:
        if exc.status == 403 and not isinstance(exc, AuthError):
            raise UsageError("This channel is private: ask its owner to add you.") from None
        if exc.status == 400:
            raise UsageError(f"You are a member of this channel already ({exc}).") from None
        if exc.status == 404:
            raise NotFoundError("There is no such channel on this server.") from None
        raise
    await _joined(client, channel, None)
    count = await count_members(client, channel.channel_id)
    return _model(channel, count)


async def _joined(client: SignalClient, channel: WireChannel, count: int | None) -> None:
    now = client.api.server_time_ms()

    def save(conn: Any) -> None:
        tables = GroupTables(conn)
        with transaction(conn):
            tables.upsert_channel(_model(channel), now, rejoined=True)
            tables.set_joined(channel.channel_id, now)
            if count is not None:
                tables.set_member_count(channel.channel_id, count)

    await client.store.run(save)
    client.schedule_conversation_update(channel.channel_id)


async def leave(client: SignalClient, channel_id: str) -> None:
    try:
        await client.http(lambda: client.api.leave_channel(channel_id))
    except ApiError as exc:
        if isinstance(exc, AuthError) or exc.status not in (403, 404):
            raise
        # Not a member (any more) on the server: left all the same.
    await client.groups.no_longer_member(channel_id)


async def members(client: SignalClient, channel_id: str) -> list[ChannelMember]:
    try:
        listed = await client.http(lambda: client.api.channel_members(channel_id))
    except ApiError as exc:
        if exc.status == 403 and not isinstance(exc, AuthError):
            raise UsageError("You are not a member of this channel.") from None
        raise
    return [ChannelMember(m.user_id, m.display_name, m.is_owner) for m in listed]


def pick(query: str, channels: list[Channel]) -> Channel:
    """A channel by id, or by name (case-insensitive); an ambiguous name is an error
    that lists the ids."""
    wanted = query.strip()
    for channel in channels:
        if channel.channel_id == wanted:
            return channel
    lowered = wanted.casefold().removeprefix("#")
    matches = {c.channel_id: c for c in channels if c.name.casefold() == lowered}
    if not matches:
        raise NotFoundError(f"No channel matches {query!r}.")
    if len(matches) > 1:
        listed = "; ".join(f"{c.name} ({c.channel_id})" for c in matches.values())
        raise AmbiguousError(f"{query!r} matches several channels: {listed}. Name one by its id.")
    return next(iter(matches.values()))


async def resolve(client: SignalClient, query: str, *, discoverable: bool = False) -> Channel:
    """One of our channels (or, with ``discoverable``, a public one) by name or id. The
    server's list is asked first; offline, the channels known here decide."""
    try:
        mine = await refresh_channels(client, counts=False)
    except ApiError:
        raise
    except NetworkError as exc:  # unreachable or not answering: what we know here
        log.info("channel list unavailable (%s)", type(exc).__name__)
        mine = await local_channels(client)
    if not discoverable:
        return pick(query, mine)
    try:
        return pick(query, mine)
    except NotFoundError:
        return pick(query, await discover(client))


__all__ = [
    "count_members",
    "create",
    "discover",
    "join",
    "leave",
    "local_channels",
    "members",
    "pick",
    "refresh_channels",
    "resolve",
]

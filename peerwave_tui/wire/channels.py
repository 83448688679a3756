"""Channel payloads (protocol.md §6.1). Only ``type == "signal"`` channels matter here."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from peerwave_tui.errors import ProtocolError
from peerwave_tui.wire import fields as f

log = logging.getLogger(__name__)

SIGNAL_CHANNEL = "signal"
_MAX_NAME_CHARS = 500


@dataclass(frozen=True)
class Channel:
    channel_id: str
    name: str
    description: str
    owner: str | None
    private: bool
    type: str
    created_at: datetime | None = None

    @property
    def is_signal(self) -> bool:
        return self.type == SIGNAL_CHANNEL


@dataclass(frozen=True)
class ChannelPage:
    """``GET /client/channels/discover``: signal channels only."""

    channels: tuple[Channel, ...]
    total: int
    has_more: bool


@dataclass(frozen=True)
class ChannelMember:
    user_id: str
    display_name: str | None
    email: str | None
    is_owner: bool


@dataclass(frozen=True)
class MemberDevice:
    user_id: str
    device_id: int


def parse_channel(data: object) -> Channel:
    what = "channel"
    d = f.obj(data, what)
    description = d.get("description")
    return Channel(
        channel_id=f.string(d, "uuid", what),
        name=f.string(d, "name", what, limit=_MAX_NAME_CHARS),
        description=description
        if isinstance(description, str) and len(description) <= f.MAX_TEXT_CHARS
        else "",
        owner=f.opt_string(d, "owner", what),
        private=f.opt_boolean(d, "private", what),
        type=f.opt_string(d, "type", what) or "",
        created_at=f.parse_time(d.get("createdAt")),
    )


def _signal_channels(entries: list[object], what: str) -> list[Channel]:
    channels: list[Channel] = []
    skipped = 0
    for entry in entries:
        try:
            channel = parse_channel(entry)
        except ProtocolError:
            skipped += 1
            continue
        if channel.is_signal:
            channels.append(channel)
    if skipped:
        log.warning("skipped %d malformed entries in a %s", skipped, what)
    return channels


def parse_channel_list(data: object) -> list[Channel]:
    """``GET /client/channels``: the caller's signal channels."""
    d = f.obj(data, "channel list")
    return _signal_channels(f.array(d.get("channels"), "channel list"), "channel list")


def parse_channel_page(data: object) -> ChannelPage:
    what = "channel directory"
    d = f.obj(data, what)
    channels = _signal_channels(f.array(d.get("channels"), what), what)
    return ChannelPage(
        channels=tuple(channels),
        total=f.opt_integer(d, "total", what, minimum=0) or 0,
        has_more=f.opt_boolean(d, "hasMore", what),
    )


def parse_join(data: object) -> Channel:
    d = f.obj(data, "join answer")
    return parse_channel(d.get("channel"))


def parse_members(data: object) -> list[ChannelMember]:
    what = "member list"
    d = f.obj(data, what)
    members: list[ChannelMember] = []
    for entry in f.array(d.get("members"), what):
        e = f.obj(entry, what)
        members.append(
            ChannelMember(
                user_id=f.string(e, "userId", what),
                display_name=f.opt_string(e, "displayName", what, limit=_MAX_NAME_CHARS),
                email=f.opt_string(e, "email", what, limit=_MAX_NAME_CHARS),
                is_owner=e.get("isOwner") is True,
            )
        )
    return members


def parse_member_devices(data: object) -> list[MemberDevice]:
    """A bare array; the whole answer is refused if any element is unusable, because a
    silently missing device would never get our sender key."""
    what = "member device list"
    result: list[MemberDevice] = []
    for entry in f.array(data, what):
        e = f.obj(entry, what)
        result.append(
            MemberDevice(
                user_id=f.string(e, "userId", what),
                device_id=f.integer(e, "deviceId", what, minimum=0),
            )
        )
    return result

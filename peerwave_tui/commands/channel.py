"""``peerwave-tui channel list|discover|create|join|leave|members`` (group channels).

    channel list                                   the channels you are in
    channel discover                               the server's public channels
    channel create NAME [--private] [--description TEXT]
    channel join CHANNEL | leave CHANNEL | members CHANNEL

CHANNEL is a channel's name or id; a name that several channels share is an error
that lists their ids. ``--json`` prints one JSON object per line. These commands only
need the server's HTTP side: they do not connect the socket (``send --channel`` and
``receive`` do). ``send_to_channel`` is ``send --channel``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import TYPE_CHECKING

from peerwave_tui.commands.common import FLUSH_DEADLINE, run_with_manager
from peerwave_tui.errors import NetworkError, UsageError

if TYPE_CHECKING:
    from peerwave_tui.cli import Context
    from peerwave_tui.client import SignalClient
    from peerwave_tui.manager import SignalClientManager
    from peerwave_tui.models import Channel, ChannelMember

ACTIONS = ("list", "discover", "create", "join", "leave", "members")


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("channel", parents=[parent], help="group channels")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="one JSON object per line")
    actions.add_parser("list", parents=[parent, json_flag], help="the channels you are in")
    actions.add_parser("discover", parents=[parent, json_flag], help="the server's public channels")
    create = actions.add_parser("create", parents=[parent, json_flag], help="create a channel")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--private", action="store_true", help="only members can add people")
    create.add_argument("--description", default="", metavar="TEXT")
    for action, what in (
        ("join", "join a public channel"),
        ("leave", "leave a channel"),
        ("members", "who is in a channel"),
    ):
        sub = actions.add_parser(action, parents=[parent, json_flag], help=what)
        sub.add_argument("channel", metavar="CHANNEL", help="a channel's name or id")
    p.set_defaults(handler=run)


def run(ctx: Context) -> int:
    args = ctx.args

    # Imported here: the parser loads this module at every start, the app's too.
    from peerwave_tui.groups import channels as ops

    async def body(manager: SignalClientManager) -> int:
        client = await manager.open_account(ctx.server, connect=False)
        if args.action == "list":
            _print_channels(await ops.refresh_channels(client, counts=True), args.json)
        elif args.action == "discover":
            _print_channels(await ops.discover(client), args.json)
        elif args.action == "create":
            channel = await ops.create(client, args.name, args.description, args.private)
            _print_channels([channel], args.json)
        elif args.action == "join":
            found = await ops.resolve(client, args.channel, discoverable=True)
            if found.member:
                raise UsageError(f"You are in {found.name} ({found.channel_id}) already.")
            _print_channels([await ops.join(client, found.channel_id)], args.json)
        elif args.action == "leave":
            found = await ops.resolve(client, args.channel)
            await ops.leave(client, found.channel_id)
            if not args.json:
                print(f"Left {found.name} ({found.channel_id}).", flush=True)
        elif args.action == "members":
            found = await ops.resolve(client, args.channel)
            _print_members(await ops.members(client, found.channel_id), args.json)
        return 0

    return run_with_manager(ctx, body)


def _print_channels(channels: list[Channel], as_json: bool) -> None:
    for c in sorted(channels, key=lambda c: (c.name.casefold(), c.channel_id)):
        if as_json:
            print(
                json.dumps(
                    {
                        "id": c.channel_id,
                        "name": c.name,
                        "description": c.description,
                        "private": c.private,
                        "owner": c.owner,
                        "members": c.member_count,
                        "member": c.member,
                    },
                    ensure_ascii=False,
                ),
                flush=True,
            )
            continue
        facts = ["private" if c.private else "public"]
        if c.member_count is not None:
            facts.append(f"{c.member_count} member{'s' if c.member_count != 1 else ''}")
        if not c.member:
            facts.append("not joined")
        about = f"  {_one_line(c.description)}" if c.description else ""
        print(f"{c.channel_id}  {_one_line(c.name)}  [{', '.join(facts)}]{about}", flush=True)


def _print_members(members: list[ChannelMember], as_json: bool) -> None:
    for m in members:
        if as_json:
            print(
                json.dumps(
                    {"userId": m.user_id, "displayName": m.display_name, "owner": m.is_owner},
                    ensure_ascii=False,
                ),
                flush=True,
            )
        else:
            owner = "  (owner)" if m.is_owner else ""
            print(f"{m.user_id}  {_one_line(m.display_name or '?')}{owner}", flush=True)


def _one_line(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)[:200]


async def send_to_channel(client: SignalClient, query: str, text: str, timeout: float) -> int:
    """``send --channel``: exits 0 once the server stored the group item (its
    ``groupItemDelivered``), also when some member devices still lack our key (they
    get it later, and can still read this message)."""
    from peerwave_tui.groups import channels as ops

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    channel = await ops.resolve(client, query)
    message = await client.send_text(channel.channel_id, text)
    try:
        await client.wait_stored(message.item_id, max(0.1, deadline - loop.time()))
    except TimeoutError:
        raise NetworkError(
            f"The server did not confirm the message within {timeout:g} s; "
            "it stays queued and goes out with the next command that connects."
        ) from None
    await client.wait_outbox_idle(min(FLUSH_DEADLINE, max(0.1, deadline - loop.time())))
    return 0

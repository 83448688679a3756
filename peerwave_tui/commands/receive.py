"""``peerwave-tui receive [--server URL] [--timeout S] [--json] [--read]``.

Prints every conversation message that no earlier ``receive`` printed, whichever
command fetched it (a per-message "reported" mark in the store), then marks it.
Channel messages are printed too, with the channel's name as the conversation; a
channel message whose sender key has not arrived yet is not printed until it can be
read, or until 24 hours have passed (then as undecryptable). ``--read`` marks what is
printed as read (read receipts; in a channel, ``markGroupItemRead``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC
from typing import TYPE_CHECKING, Any

from peerwave_tui.commands.common import FLUSH_DEADLINE, run_with_manager
from peerwave_tui.errors import NetworkError, UsageError

if TYPE_CHECKING:
    from peerwave_tui.cli import Context
    from peerwave_tui.client import SignalClient
    from peerwave_tui.manager import SignalClientManager
    from peerwave_tui.storage.history import UnreportedMessage

CONNECT_DEADLINE = 30.0


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("receive", parents=[parent], help="print new messages")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="keep listening for SECONDS after the backlog (default: exit once drained)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--read", action="store_true", help="send read receipts for what is printed")
    p.set_defaults(handler=run)


def run(ctx: Context) -> int:
    args = ctx.args
    if args.timeout is not None and args.timeout < 0:
        raise UsageError("--timeout must not be negative.")

    async def body(manager: SignalClientManager) -> int:
        from peerwave_tui.events import MessageReceived

        events = manager.events()  # subscribed before anything can arrive
        client = await manager.open_account(ctx.server)
        # Messages another command (or the app) already fetched come first.
        await _report(client, args)
        try:
            await client.wait_drained(CONNECT_DEADLINE)
        except TimeoutError:
            raise NetworkError(
                f"Could not fetch messages from {client.record.server_url} "
                f"within {CONNECT_DEADLINE:g} s."
            ) from None
        await client.groups.wait_names(CONNECT_DEADLINE)  # channel titles for the output
        await _report(client, args)
        if args.timeout:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + args.timeout
            iterator = events.__aiter__()
            while (remaining := deadline - loop.time()) > 0:
                try:
                    async with asyncio.timeout(remaining):
                        event = await iterator.__anext__()
                except TimeoutError:
                    break
                if isinstance(event, MessageReceived) and event.account_id == client.account_id:
                    await _report(client, args)
        await client.wait_outbox_idle(FLUSH_DEADLINE)
        return 0

    return run_with_manager(ctx, body)


async def _report(client: SignalClient, args: Any) -> None:
    from peerwave_tui.storage.history import History

    while True:
        batch = await client.store.run(lambda c: History(c).unreported())
        if not batch:
            return
        for entry in batch:
            print(_format(client, entry, args.json), flush=True)
        await client.store.run(_mark_reported([e.message.local_id for e in batch]))
        if args.read:
            for conversation in {e.message.conversation_id for e in batch}:
                await client.mark_read(conversation)


def _format(client: SignalClient, entry: UnreportedMessage, as_json: bool) -> str:
    m = entry.message
    timestamp = (
        m.timestamp.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
    text = m.text if m.kind.value == "message" else ""
    if as_json:
        return json.dumps(
            {
                "server": client.record.server_url,
                "itemId": m.item_id,
                "conversation": entry.conversation_title or m.conversation_id,
                "sender": m.sender_id,
                "senderName": m.sender_name,
                "senderDevice": m.sender_device,
                "type": m.kind.value,
                "text": text,
                "timestamp": timestamp,
                "direction": m.direction.value,
                **(
                    {"channelId": m.conversation_id}
                    if entry.conversation_kind.value == "group"
                    else {}
                ),
            },
            ensure_ascii=False,
        )
    who = m.sender_name or m.sender_id
    if m.direction.value == "out":
        who = f"you (another device) to {entry.conversation_title or m.conversation_id}"
    shown = (
        text
        if m.kind.value == "message"
        else (
            "[could not decrypt]"
            if m.kind.value == "undecryptable"
            else f"[unsupported: {m.detail or 'unknown'}]"
        )
    )
    where = entry.conversation_title or m.conversation_id
    prefix = (
        f"[{timestamp}] {where} | {who}:"
        if entry.conversation_kind.value == "group"
        else (f"[{timestamp}] {who}:")
    )
    return f"{prefix} {shown}"


def _mark_reported(ids: list[int]) -> Any:
    from peerwave_tui.storage.history import History
    from peerwave_tui.storage.tx import transaction

    def mark(conn: Any) -> None:
        with transaction(conn):
            History(conn).mark_reported(ids)

    return mark

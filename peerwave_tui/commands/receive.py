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
from collections.abc import AsyncIterator
from datetime import UTC
from typing import TYPE_CHECKING, Any

from peerwave_tui.commands.common import FLUSH_DEADLINE, run_with_manager
from peerwave_tui.errors import NetworkError, UsageError
from peerwave_tui.ui.format import clean_text, one_line

if TYPE_CHECKING:
    from peerwave_tui.cli import Context
    from peerwave_tui.client import SignalClient
    from peerwave_tui.events import Event
    from peerwave_tui.manager import SignalClientManager
    from peerwave_tui.storage.history import UnreportedMessage

CONNECT_DEADLINE = 30.0
# JSON escapes C0 controls itself; with ensure_ascii=False it leaves DEL, the C1
# controls (U+0080..U+009F, some terminals act on them) and the bidirectional
# overrides as they are. These are written as \uXXXX escapes: the same string, once
# parsed.
_JSON_UNSAFE = {
    code: f"\\u{code:04x}"
    for code in (*range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}


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
        await _drained_or_failed(client, events)
        await client.groups.wait_names(CONNECT_DEADLINE)  # channel titles for the output
        # Held channel messages past 24 h are undecryptable from now on: say so in this
        # run, not only once the background expiry happens to run.
        await client.groups.expire_held()
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


async def _drained_or_failed(client: SignalClient, events: AsyncIterator[Event]) -> None:
    """Until the first drain of pending messages is done. A connection attempt that
    fails first ends the wait at once, with its reason: a server that is down must
    not keep the command waiting for the whole deadline."""
    from peerwave_tui.events import ConnectionChanged
    from peerwave_tui.models import ConnectionState

    async def failed() -> str:
        async for event in events:
            if (
                isinstance(event, ConnectionChanged)
                and event.account_id == client.account_id
                and event.state in (ConnectionState.OFFLINE, ConnectionState.ERROR)
            ):
                return event.detail or "the connection failed"
        return "the connection was closed"

    drained = asyncio.ensure_future(client.wait_drained(CONNECT_DEADLINE))
    failure = asyncio.ensure_future(failed())
    try:
        await asyncio.wait({drained, failure}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        failure.cancel()
    if drained.done():
        if isinstance(drained.exception(), TimeoutError):
            raise NetworkError(
                f"Could not fetch messages from {client.record.server_url} "
                f"within {CONNECT_DEADLINE:g} s."
            )
        drained.result()
        return
    drained.cancel()
    reason = failure.result()
    raise NetworkError(
        f"Could not fetch messages from {client.record.server_url}: {reason.rstrip('.')}."
    )


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
        ).translate(_JSON_UNSAFE)
    # Everything a peer chose (names, text) is cleaned of control characters, so no
    # escape sequence reaches the terminal, and a message's further lines are
    # indented, so a message cannot forge a line that looks like another message.
    who = one_line(m.sender_name or m.sender_id, 80)
    if m.direction.value == "out":
        who = f"you (another device) to {one_line(entry.conversation_title or m.conversation_id)}"
    shown = (
        clean_text(text).replace("\n", "\n    ")
        if m.kind.value == "message"
        else (
            "[could not decrypt]"
            if m.kind.value == "undecryptable"
            else f"[unsupported: {one_line(m.detail or 'unknown', 60)}]"
        )
    )
    where = one_line(entry.conversation_title or m.conversation_id)
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

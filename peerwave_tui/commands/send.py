"""``peerwave-tui send [--server URL] --to CONTACT [--timeout S] TEXT``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from peerwave_tui.commands.common import resolve_contact, run_with_manager
from peerwave_tui.errors import NetworkError, UsageError

if TYPE_CHECKING:
    from peerwave_tui.cli import Context
    from peerwave_tui.manager import SignalClientManager


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("send", parents=[parent], help="send one message")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", metavar="CONTACT", help="display name, @name, e-mail or user id")
    target.add_argument("--channel", metavar="CHANNEL", help="a channel's name or id")
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up waiting for the server's receipt after SECONDS (default 30)",
    )
    p.add_argument("text", metavar="TEXT")
    p.set_defaults(handler=run)


def run(ctx: Context) -> int:
    args = ctx.args
    if not args.text.strip():
        raise UsageError("The message is empty.")

    async def body(manager: SignalClientManager) -> int:
        client = await manager.open_account(ctx.server)
        if args.channel is not None:
            from peerwave_tui.commands.channel import send_to_channel

            return await send_to_channel(client, args.channel, args.text, args.timeout)
        people = await client.people()
        contact = resolve_contact(args.to, people + await client.known_contacts())
        await client.open_conversation(contact)
        message = await client.send_text(contact.user_id, args.text)
        try:
            await client.wait_stored(message.item_id, args.timeout)
        except TimeoutError:
            raise NetworkError(
                f"The server did not confirm the message within {args.timeout:g} s; "
                "it stays queued and goes out with the next command that connects."
            ) from None
        await client.wait_outbox_idle(2.0)
        return 0

    return run_with_manager(ctx, body)

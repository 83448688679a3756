"""``peerwave-tui verify [--server URL] --contact CONTACT [--mark-verified | --accept]``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from peerwave_tui.commands.common import resolve_contact, run_with_manager

if TYPE_CHECKING:
    from peerwave_tui.cli import Context
    from peerwave_tui.manager import SignalClientManager


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("verify", parents=[parent], help="show a contact's safety number")
    p.add_argument("--contact", required=True, metavar="CONTACT")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--mark-verified", action="store_true", help="mark the contact as verified")
    action.add_argument(
        "--accept", action="store_true", help="accept the contact's changed identity key"
    )
    p.set_defaults(handler=run)


def run(ctx: Context) -> int:
    args = ctx.args

    async def body(manager: SignalClientManager) -> int:
        client = await manager.open_account(ctx.server)
        people = await client.people()
        contact = resolve_contact(args.contact, people + await client.known_contacts())
        if args.accept:
            await client.accept_identity(contact.user_id)
        number = await client.safety_number(contact.user_id)
        if args.mark_verified:
            await client.mark_verified(contact.user_id)
        print(number.formatted())
        await client.wait_outbox_idle(2.0)
        return 0

    return run_with_manager(ctx, body)

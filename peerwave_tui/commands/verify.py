"""``peerwave-tui verify [--server URL] --contact CONTACT [--mark-verified | --accept]``.

Prints the safety number (60 digits in 12 groups of 5) from a freshly fetched
bundle. ``--accept`` accepts the contact's changed identity key, so messages that
waited for it go out; ``--mark-verified`` marks the contact verified (which accepts
the keys the number covers).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from peerwave_tui.commands.common import FLUSH_DEADLINE, find_contact, run_with_manager

if TYPE_CHECKING:
    from peerwave_tui.cli import Context
    from peerwave_tui.manager import SignalClientManager

CONTACT_LOOKUP = 15.0


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
        # Only a change of trust can release waiting messages: then it connects.
        changes_trust = args.accept or args.mark_verified
        client = await manager.open_account(ctx.server, connect=changes_trust)
        contact = await find_contact(client, args.contact, CONTACT_LOOKUP)
        number = await client.safety_number(contact.user_id)
        if args.accept:
            await client.accept_identity(contact.user_id)
        if args.mark_verified:
            await client.mark_verified(contact.user_id)
        print(number.formatted(), flush=True)
        if changes_trust:
            await client.wait_outbox_idle(FLUSH_DEADLINE)
        return 0

    return run_with_manager(ctx, body)

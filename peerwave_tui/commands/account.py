"""``peerwave-tui account register|login|link|magic-key|list|remove``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING

from peerwave_tui.commands.common import FLUSH_DEADLINE, run_with_manager, settle
from peerwave_tui.errors import RegistrationIncompleteError, UsageError
from peerwave_tui.ui.format import one_line

if TYPE_CHECKING:
    from peerwave_tui.cli import Context
    from peerwave_tui.manager import SignalClientManager

# After adding an account: how long to wait for its first connection (so its device
# id is known and saved) before the command ends anyway.
CONNECT_WITHIN = 10.0


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    account = subparsers.add_parser("account", parents=[parent], help="manage accounts")
    sub = account.add_subparsers(dest="account_command", metavar="ACTION", required=True)

    p = sub.add_parser("register", parents=[parent], help="create an account on a server")
    p.add_argument("--email", required=True)
    p.add_argument("--name", required=True, help="display name (must be unique on the server)")
    p.add_argument("--at-name", default=None, help="optional @name")
    p.add_argument(
        "--otp-command",
        metavar="CMD",
        default=None,
        help="shell command printing the e-mailed OTP (polled every 0.5 s for 60 s)",
    )
    p.set_defaults(handler=run_register)

    p = sub.add_parser("login", parents=[parent], help="log in with a backup code")
    p.add_argument("--email", required=True)
    p.add_argument("--backup-code", required=True)
    p.set_defaults(handler=run_login)

    p = sub.add_parser("link", parents=[parent], help="link this device with a magic key")
    p.add_argument("--magic-key", required=True)
    p.set_defaults(handler=run_link)

    p = sub.add_parser("magic-key", parents=[parent], help="print a magic key for another device")
    p.set_defaults(handler=run_magic_key)

    p = sub.add_parser("list", parents=[parent], help="list saved accounts")
    p.add_argument("--json", action="store_true", help="one JSON array")
    p.set_defaults(handler=run_list)

    p = sub.add_parser("remove", parents=[parent], help="remove an account from this device")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=run_remove)


def _require_server(ctx: Context) -> str:
    if not ctx.server:
        raise UsageError("--server URL is required.")
    return ctx.server


def run_register(ctx: Context) -> int:
    server = _require_server(ctx)
    args = ctx.args
    if args.otp_command is None and not sys.stdin.isatty():
        raise UsageError(
            "No terminal to ask for the OTP: pass --otp-command CMD (a command that prints it)."
        )

    async def body(manager: SignalClientManager) -> int:
        from peerwave_tui.otp import otp_from_command

        pending = await manager.register_start(server, args.email)
        if args.otp_command is not None:
            otp = await otp_from_command(args.otp_command)
        else:
            otp = (await asyncio.to_thread(input, f"OTP sent to {pending.email}: ")).strip()
        name, at_name = args.name, args.at_name
        while True:
            try:
                result = await manager.register_finish(pending, otp, name, at_name)
                break
            except RegistrationIncompleteError as exc:
                # The account exists on the server: its backup codes are the way back in.
                _print_codes("The account was created, but not finished. Its backup codes:", exc)
                if not sys.stdin.isatty():
                    raise
                # The server lets a name be chosen only during registration (this run's
                # session): ask for another one now rather than leave it nameless.
                print(one_line(str(exc), 300), file=sys.stderr)
                name = (await asyncio.to_thread(input, "Another display name: ")).strip()
                if not name:
                    raise
                if at_name:
                    at_name = (await asyncio.to_thread(input, "Another @name: ")).strip() or None
        _print_codes(
            "Account created. Your backup codes (shown once; keep them safe):",
            result.backup_codes,
        )
        await settle(manager.client(result.account.account_id), CONNECT_WITHIN, FLUSH_DEADLINE)
        return 0

    return run_with_manager(ctx, body)


def _print_codes(title: str, source: object) -> None:
    codes = getattr(source, "backup_codes", source)
    print(title)
    for code in codes if isinstance(codes, list) else []:
        print(f"  {code}")
    sys.stdout.flush()


def run_login(ctx: Context) -> int:
    server = _require_server(ctx)
    args = ctx.args

    async def body(manager: SignalClientManager) -> int:
        record = await manager.login(server, args.email, args.backup_code)
        print(f"Logged in to {record.server_url} as {record.email}.", flush=True)
        await settle(manager.client(record.account_id), CONNECT_WITHIN, FLUSH_DEADLINE)
        return 0

    return run_with_manager(ctx, body)


def run_link(ctx: Context) -> int:
    args = ctx.args

    async def body(manager: SignalClientManager) -> int:
        record = await manager.link(args.magic_key, ctx.server)
        print(f"Linked to {record.server_url} as {record.email}.", flush=True)
        await settle(manager.client(record.account_id), CONNECT_WITHIN, FLUSH_DEADLINE)
        return 0

    return run_with_manager(ctx, body)


def run_magic_key(ctx: Context) -> int:
    async def body(manager: SignalClientManager) -> int:
        client = await manager.open_account(ctx.server, connect=False)
        print(await client.magic_key(), flush=True)
        return 0

    return run_with_manager(ctx, body)


def run_list(ctx: Context) -> int:
    from peerwave_tui.saved_accounts import load_accounts

    records = load_accounts(ctx.paths.servers_file)
    if ctx.args.json:
        print(
            json.dumps(
                [
                    {
                        "server": r.server_url,
                        "serverName": r.server_name,
                        "email": r.email,
                        "name": r.display_name,
                        "userId": r.user_id,
                        "deviceId": r.device_id,
                        "clientId": r.client_id,
                    }
                    for r in records
                ]
            )
        )
        return 0
    if not records:
        print("No accounts.")
    for r in records:
        label = one_line(r.server_name or r.server_url)  # the server's own name: clean it
        device = r.device_id if r.device_id is not None else "?"
        print(f"{label}  {r.server_url}  {r.email}  device {device}")
    return 0


def run_remove(ctx: Context) -> int:
    server = _require_server(ctx)

    async def body(manager: SignalClientManager) -> int:
        record = manager.find_account(server)
        if not ctx.args.yes:
            if not sys.stdin.isatty():
                raise UsageError("Removing an account needs confirmation: pass --yes.")
            answer = await asyncio.to_thread(
                input,
                f"Remove {record.email} on {record.server_url} from this device, deleting its "
                "keys and history? [y/N] ",
            )
            if answer.strip().lower() not in ("y", "yes"):
                print("Nothing removed.")
                return 1
        await manager.remove_account(record.account_id)
        print(f"Removed {record.email} on {record.server_url}.")
        return 0

    return run_with_manager(ctx, body)

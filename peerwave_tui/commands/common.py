"""Helpers shared by the subcommands: key custody from the options, one manager per
command, running a coroutine, resolving contacts by name."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from peerwave_tui.errors import AmbiguousError, NotFoundError
from peerwave_tui.models import Contact

if TYPE_CHECKING:
    from peerwave_tui.cli import Context
    from peerwave_tui.manager import SignalClientManager

T = TypeVar("T")


def make_manager(ctx: Context, *, interactive: bool | None = None) -> SignalClientManager:
    """The manager for a command. ``interactive`` allows a passphrase prompt on the
    terminal (never in the TUI, which owns the terminal: it asks on a screen)."""
    from peerwave_tui.manager import SignalClientManager
    from peerwave_tui.storage.custody import KeyCustody, passphrase_source_from

    ctx.setup_logging()
    source = passphrase_source_from(
        os.environ,
        getattr(ctx.args, "passphrase_file", None),
        interactive=sys.stdin.isatty() if interactive is None else interactive,
    )
    custody = KeyCustody(
        ctx.paths, mode=getattr(ctx.args, "key_mode", None), passphrase_source=source
    )
    return SignalClientManager(ctx.paths, custody)


def run_with_manager(ctx: Context, body: Callable[[SignalClientManager], Awaitable[T]]) -> T:
    """Run ``body(manager)`` on a fresh event loop and always close the manager."""

    async def main() -> T:
        manager = make_manager(ctx)
        try:
            return await body(manager)
        finally:
            await manager.aclose()

    return asyncio.run(main())


def resolve_contact(query: str, people: list[Contact]) -> Contact:
    """A contact by display name, @name, e-mail or user id (case-insensitive)."""
    wanted = query.strip()
    lowered = wanted.lower().removeprefix("@")
    exact_id = [p for p in people if p.user_id == wanted]
    if exact_id:
        return exact_id[0]
    matches = [
        p
        for p in people
        if (p.display_name or "").lower() == wanted.lower()
        or (p.at_name or "").lower().removeprefix("@") == lowered
        or (p.email or "").lower() == wanted.lower()
    ]
    if not matches:
        raise NotFoundError(f"No contact matches {query!r}.")
    unique = {p.user_id: p for p in matches}
    if len(unique) > 1:
        listed = "; ".join(
            f"{p.display_name} <{p.email or ('@' + p.at_name if p.at_name else p.user_id)}> ({p.user_id})"
            for p in unique.values()
        )
        raise AmbiguousError(f"{query!r} matches several contacts: {listed}.")
    return next(iter(unique.values()))

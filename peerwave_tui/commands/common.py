"""Helpers shared by the subcommands: key custody from the options, one manager per
command, running a coroutine, resolving contacts by name."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from peerwave_tui.errors import AmbiguousError, NetworkError, NotFoundError
from peerwave_tui.models import Contact

if TYPE_CHECKING:
    from peerwave_tui.cli import Context
    from peerwave_tui.client import SignalClient
    from peerwave_tui.manager import SignalClientManager

T = TypeVar("T")

# How long a command that connected waits, at the end, for the outbox to go out.
FLUSH_DEADLINE = 30.0
# How long leftover tasks get to end once the command is done.
EXIT_GRACE = 5.0


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

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main())
    finally:
        _finish_loop(loop)


def _finish_loop(loop: asyncio.AbstractEventLoop) -> None:
    """What ``asyncio.run`` does at the end, except that a task which does not stop
    when cancelled is left behind after a while instead of keeping the command from
    ending."""
    try:
        leftover = asyncio.all_tasks(loop)
        for task in leftover:
            task.cancel()
        if leftover:
            loop.run_until_complete(asyncio.wait(leftover, timeout=EXIT_GRACE))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


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


async def find_contact(client: SignalClient, query: str, timeout: float) -> Contact:
    """``resolve_contact`` over the server's people list and the contacts we know.
    When the server cannot be asked (offline), the known contacts alone decide, so a
    message to a known contact is still queued."""
    known = await client.known_contacts()
    try:
        async with asyncio.timeout(max(0.1, timeout)):
            people = await client.people()
    except (NetworkError, TimeoutError) as exc:
        try:
            return resolve_contact(query, known)
        except NotFoundError:
            if isinstance(exc, TimeoutError):
                raise NetworkError(
                    f"{client.record.server_url} did not answer in time, and no known "
                    f"contact matches {query!r}."
                ) from None
            raise exc from None
    return resolve_contact(query, people + known)


async def settle(client: SignalClient, connect_within: float, flush_within: float) -> None:
    """Let a freshly connected account finish its start: wait (briefly) until it is
    connected, then until whatever is still in its outbox has gone out."""
    try:
        async with asyncio.timeout(connect_within):
            await client.wait_connected()
    except TimeoutError:
        return
    await client.wait_outbox_idle(flush_within)

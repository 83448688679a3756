"""Keeping the cyclic garbage collector's full passes short in the running app.

Each full pass walks every object the interpreter tracks. Once the app has started,
most of those (Textual, the crypto libraries, the clients and their connections) live
until it ends; over that heap a pass takes 100-150 ms on a loaded 2-core machine, and
passes come every few seconds while messages arrive, so key presses and the opening of
a conversation waited for them. ``gc.freeze()`` moves everything built so far out of
those passes (frozen objects are still freed once nothing refers to them).

Only for the real program (``peerwave-tui``, the demo): a test process builds many
apps, and freezing would keep every one of them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# Frozen a second time once every account is connected (their sessions, TLS and
# socket.io clients come after the start), or after this long at the latest.
REFREEZE_WITHIN = 30.0
POLL_SECONDS = 0.5


def freeze_heap() -> None:
    """One full collection (so no garbage is kept for good), then freeze."""
    started = time.monotonic()
    gc.collect()
    gc.freeze()
    log.debug(
        "heap frozen in %.3f s (%d objects)", time.monotonic() - started, gc.get_freeze_count()
    )


async def freeze_when_connected(connected: Callable[[], bool]) -> None:
    """``freeze_heap()`` once ``connected()`` holds, or after ``REFREEZE_WITHIN``."""
    deadline = time.monotonic() + REFREEZE_WITHIN
    # Polled: the accounts' states have no event of their own here; at most 60 polls.
    while time.monotonic() < deadline and not connected():  # noqa: ASYNC110
        await asyncio.sleep(POLL_SECONDS)
    freeze_heap()

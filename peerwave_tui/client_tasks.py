"""Ending a client's tasks: bounded waits, and where a task that does not end is stuck."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

log = logging.getLogger("peerwave_tui.client")


async def stop_tasks(
    tasks: list[asyncio.Future[Any]], timeout: float, *, cancel: bool = True
) -> None:
    """Cancel ``tasks`` (unless told not to) and wait for them, at most ``timeout``
    seconds: one that does not end by then is left behind (and logged) rather than
    blocking the close."""
    if not tasks:
        return
    for task in tasks:
        if cancel:
            task.cancel()
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in done:
        if not task.cancelled():
            task.exception()  # retrieved: nothing to report at close
    if pending:
        log.warning(
            "%d tasks did not stop within %g s of closing:\n%s",
            len(pending),
            timeout,
            _stacks(
                [*pending, *(t for t in asyncio.all_tasks() if t.get_name().startswith("socket:"))]
            ),
        )


def _stacks(tasks: list[asyncio.Future[Any]]) -> str:
    """Where tasks are waiting: each task's chain of awaits (code locations only)."""
    out = io.StringIO()
    for task in tasks:
        if not isinstance(task, asyncio.Task):
            continue
        out.write(f"task {task.get_name()}:\n")
        awaited: Any = task.get_coro()
        for _ in range(40):
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is None:
                out.write(f"  awaiting {type(awaited).__name__}\n")
                break
            out.write(f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}\n")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
            if awaited is None:
                break
    return out.getvalue()


def log_task_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.info("background job failed: %s", type(exc).__name__)

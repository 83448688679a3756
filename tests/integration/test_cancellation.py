"""Closing must be able to stop every task. On Python 3.11, ``asyncio.wait_for``
swallows a cancellation that arrives in the same loop turn as the awaited result (a
known CPython bug, fixed in 3.12): the cancelled task then carries on, and whoever
waits for it to end (``SignalClient.aclose``) waits forever. The socket layer waits
for answers with ``asyncio.timeout`` instead, which passes the cancellation on."""

from __future__ import annotations

import asyncio

import pytest

from peerwave_tui.socket_replies import Replies
from peerwave_tui.wire import PendingPage


async def test_a_cancel_that_meets_an_answer_still_cancels() -> None:
    replies = Replies("127.0.0.1:1", timeout=30)
    request = replies.expect_page(0)
    waiting = asyncio.create_task(replies.wait_page(request))
    await asyncio.sleep(0)  # it is waiting for the page now
    replies.on_page(PendingPage(items=(), has_more=False, offset=0))  # the answer arrives...
    waiting.cancel()  # ...in the same loop turn as the close
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_cancel_that_meets_an_ack_still_cancels() -> None:
    replies = Replies("127.0.0.1:1", timeout=30)
    fut, on_ack = replies.new_ack()
    waiting = asyncio.create_task(replies.wait_ack(fut, "deleting a message"))
    await asyncio.sleep(0)
    on_ack({"success": True, "deletedCount": 1})
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

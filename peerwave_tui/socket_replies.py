"""Answers the server sends to our own socket requests: ``deleteItem`` acks and
``fetchPendingMessagesV2`` pages. Each waits with a timeout, and all of them fail at
once (``NotConnectedError``) when the connection is lost, instead of timing out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from peerwave_tui.errors import (
    PeerwaveError,
    ProtocolError,
    RequestTimeoutError,
    ServerFailureError,
)
from peerwave_tui.wire import http_errors as he
from peerwave_tui.wire.events import PendingPage

PageRequest = tuple[int, "asyncio.Future[PendingPage]"]


class Replies:
    def __init__(self, host: str, timeout: float) -> None:
        self._host = host
        self._timeout = timeout
        self._acks: set[asyncio.Future[Any]] = set()
        self._pages: list[PageRequest] = []

    # --- acks -------------------------------------------------------------------------

    def new_ack(self) -> tuple[asyncio.Future[Any], Callable[..., None]]:
        """A future and the socket.io ack callback that resolves it."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_ack(*args: Any) -> None:
            if not fut.done():
                fut.set_result(args[0] if len(args) == 1 else None)

        self._acks.add(fut)
        return fut, on_ack

    async def wait_ack(self, fut: asyncio.Future[Any], what: str) -> Any:
        try:
            return await self._wait(fut, what)
        finally:
            self.forget_ack(fut)

    async def wait_acks(self, futs: list[asyncio.Future[Any]], what: str) -> list[Any]:
        """Wait for several acks under one timeout; each answer, or in its place the
        error (a ``PeerwaveError``) of an ack that failed or did not come in time."""
        try:
            if futs:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._timeout):
                        await asyncio.wait(futs)
            late = RequestTimeoutError(f"{self._host} did not answer in time ({what}).")
            results: list[Any] = []
            for fut in futs:
                if not fut.done() or fut.cancelled():
                    results.append(late)
                else:
                    results.append(fut.exception() or fut.result())
            return results
        finally:
            for fut in futs:
                self.forget_ack(fut)

    def forget_ack(self, fut: asyncio.Future[Any]) -> None:
        fut.cancel()
        self._acks.discard(fut)

    # --- pending pages ----------------------------------------------------------------

    def expect_page(self, offset: int) -> PageRequest:
        request: PageRequest = (offset, asyncio.get_running_loop().create_future())
        self._pages.append(request)
        return request

    async def wait_page(self, request: PageRequest) -> PendingPage:
        try:
            page: PendingPage = await self._wait(request[1], "listing pending messages")
            return page
        finally:
            self.forget_page(request)

    def forget_page(self, request: PageRequest) -> None:
        request[1].cancel()
        if request in self._pages:
            self._pages.remove(request)

    def on_page(self, page: PendingPage | None) -> None:
        """A ``pendingMessagesResponse`` (``None``: it was malformed). It goes to the
        request with the same offset, else to the oldest one (nothing else correlates)."""
        if not self._pages:
            return  # nobody asked, or the asker timed out
        index = 0
        if page is not None:
            index = next((i for i, (o, _f) in enumerate(self._pages) if o == page.offset), 0)
        _offset, fut = self._pages.pop(index)
        if fut.done():
            return
        if page is None:
            fut.set_exception(ProtocolError(f"{self._host} sent a malformed pending message page."))
        else:
            fut.set_result(page)

    def on_page_error(self, detail: str | None) -> None:
        """``fetchPendingMessagesError`` carries no offset: it answers the oldest request."""
        if not self._pages:
            return
        _offset, fut = self._pages.pop(0)
        if not fut.done():
            message = f"{self._host} could not list pending messages."
            if detail:
                message += f" (server says: {detail})"
            fut.set_exception(ServerFailureError(500, message, "fetch_pending_failed"))

    # --- both -------------------------------------------------------------------------

    async def _wait(self, fut: asyncio.Future[Any], what: str) -> Any:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
        # meets the answer in the same loop turn, and the cancelled task runs on.
        try:
            async with asyncio.timeout(self._timeout):
                return await fut
        except TimeoutError:
            raise RequestTimeoutError(f"{self._host} did not answer in time ({what}).") from None

    def fail_all(self, error: PeerwaveError) -> None:
        for fut in list(self._acks):
            if not fut.done():
                fut.set_exception(error)
        for _offset, page_fut in self._pages:
            if not page_fut.done():
                page_fut.set_exception(error)
        self._pages.clear()


def error_detail(args: tuple[Any, ...]) -> str | None:
    return he.server_detail(args[0]) if len(args) == 1 else None

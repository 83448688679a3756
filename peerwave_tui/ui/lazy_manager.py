"""A ``ManagerAPI`` whose real manager is built only when first needed, off the loop.

Importing the client stack (aiohttp, python-socketio, python-axolotl, SQLCipher) takes
as long as importing Textual. ``peerwave-tui`` hands the app this stand-in so the first
frame is drawn before that import: the app's start worker (after the first paint) asks
for the manager, which is then built in a thread. Until then the accounts are the
saved ones (``saved_accounts``, read from servers.toml without the client stack), so
their tabs can be drawn; an event subscription taken early is attached the moment the
manager exists, so no event is missed.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from peerwave_tui.events import Event
from peerwave_tui.manager_api import ManagerAPI, PendingRegistration, RegistrationResult
from peerwave_tui.models import (
    AccountRecord,
    ChatMessage,
    ConnectionState,
    Contact,
    Conversation,
    SafetyNumber,
    ServerMeta,
)


class _EarlySubscription:
    """``events()`` asked for before the manager exists."""

    def __init__(self) -> None:
        self._attached = asyncio.Event()
        self._stream: AsyncIterator[Event] | None = None

    def attach(self, stream: AsyncIterator[Event]) -> None:
        self._stream = stream
        self._attached.set()

    def __aiter__(self) -> _EarlySubscription:
        return self

    async def __anext__(self) -> Event:
        await self._attached.wait()
        assert self._stream is not None
        return await self._stream.__anext__()

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class LazyManager:
    def __init__(
        self,
        build: Callable[[], ManagerAPI],
        *,
        saved_accounts: Callable[[], list[AccountRecord]] | None = None,
    ) -> None:
        self._build = build
        self._saved_accounts = saved_accounts
        self._manager: ManagerAPI | None = None
        self._building: asyncio.Future[ManagerAPI] | None = None
        self._early: list[_EarlySubscription] = []

    async def ready(self) -> ManagerAPI:
        """The real manager (built on the first call, in a thread)."""
        if self._manager is not None:
            return self._manager
        if self._building is None:
            self._building = asyncio.ensure_future(asyncio.to_thread(self._build))
        manager = await asyncio.shield(self._building)
        if self._manager is None:
            self._manager = manager
            for early in self._early:  # before any await: nothing is published in between
                early.attach(manager.events())
            self._early.clear()
        return self._manager

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        await (await self.ready()).start()

    async def aclose(self) -> None:
        if self._building is not None and self._manager is None:
            try:
                await self.ready()  # a build under way finishes; then it is closed
            except Exception:  # noqa: BLE001 - it never existed, nothing to close
                return
        if self._manager is not None:
            await self._manager.aclose()

    def events(self) -> AsyncIterator[Event]:
        if self._manager is not None:
            return self._manager.events()
        early = _EarlySubscription()
        self._early.append(early)
        return early

    # --- accounts -------------------------------------------------------------------

    def accounts(self) -> list[AccountRecord]:
        if self._manager is not None:
            return self._manager.accounts()
        return self._saved_accounts() if self._saved_accounts is not None else []

    def connection_state(self, account_id: str) -> tuple[ConnectionState, str | None]:
        if self._manager is None:
            return ConnectionState.CONNECTING, None
        return self._manager.connection_state(account_id)

    async def probe_server(self, url: str) -> ServerMeta:
        return await (await self.ready()).probe_server(url)

    async def register_start(self, url: str, email: str) -> PendingRegistration:
        return await (await self.ready()).register_start(url, email)

    async def register_finish(
        self,
        pending: PendingRegistration,
        otp: str,
        display_name: str,
        at_name: str | None = None,
    ) -> RegistrationResult:
        return await (await self.ready()).register_finish(pending, otp, display_name, at_name)

    async def login(self, url: str, email: str, backup_code: str) -> AccountRecord:
        return await (await self.ready()).login(url, email, backup_code)

    async def link(self, magic_key: str, url_override: str | None = None) -> AccountRecord:
        return await (await self.ready()).link(magic_key, url_override)

    async def magic_key(self, account_id: str) -> str:
        return await (await self.ready()).magic_key(account_id)

    async def remove_account(self, account_id: str) -> None:
        await (await self.ready()).remove_account(account_id)

    async def unlock(self, passphrase: str) -> None:
        await (await self.ready()).unlock(passphrase)

    # --- conversations --------------------------------------------------------------

    async def conversations(self, account_id: str) -> list[Conversation]:
        return await (await self.ready()).conversations(account_id)

    async def people(self, account_id: str) -> list[Contact]:
        return await (await self.ready()).people(account_id)

    async def open_conversation(self, account_id: str, contact: Contact) -> Conversation:
        return await (await self.ready()).open_conversation(account_id, contact)

    async def messages(
        self,
        account_id: str,
        conversation_id: str,
        *,
        before: int | None = None,
        limit: int = 50,
    ) -> list[ChatMessage]:
        manager = await self.ready()
        return await manager.messages(account_id, conversation_id, before=before, limit=limit)

    async def send(self, account_id: str, conversation_id: str, text: str) -> ChatMessage:
        return await (await self.ready()).send(account_id, conversation_id, text)

    async def retry(self, account_id: str, conversation_id: str, item_id: str) -> None:
        await (await self.ready()).retry(account_id, conversation_id, item_id)

    async def mark_read(self, account_id: str, conversation_id: str) -> None:
        await (await self.ready()).mark_read(account_id, conversation_id)

    # --- trust ----------------------------------------------------------------------

    async def safety_number(self, account_id: str, contact_id: str) -> SafetyNumber:
        return await (await self.ready()).safety_number(account_id, contact_id)

    async def mark_verified(self, account_id: str, contact_id: str) -> None:
        await (await self.ready()).mark_verified(account_id, contact_id)

    async def accept_identity(self, account_id: str, contact_id: str) -> None:
        await (await self.ready()).accept_identity(account_id, contact_id)

    def connection_reason(self, account_id: str) -> str | None:
        if self._manager is None:
            return None
        reason = getattr(self._manager, "connection_reason", None)
        return reason(account_id) if reason is not None else None

    def __getattr__(self, name: str) -> Any:
        # Anything else goes to the real manager once built. A coroutine method of
        # ManagerAPI not spelled out above waits for the build, like those above.
        manager = self.__dict__.get("_manager")
        if manager is not None:
            return getattr(manager, name)
        if inspect.iscoroutinefunction(getattr(ManagerAPI, name, None)):

            async def forward(*args: Any, **kwargs: Any) -> Any:
                return await getattr(await self.ready(), name)(*args, **kwargs)

            return forward
        raise AttributeError(f"{name} (the manager is not built yet)")

"""Dialog flows of the main screen: each asks the user something, then calls the manager.

They run in workers of the main screen (``MainScreen.spawn``), so they may wait for a
dialog's answer (``push_screen_wait``). Failures show as toasts (``MainScreen.guarded``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from peerwave_tui.models import ConversationKind
from peerwave_tui.ui.screens.confirm import ConfirmDialog
from peerwave_tui.ui.screens.identity_change import IdentityChangeDialog, IdentityChoice
from peerwave_tui.ui.screens.magic_key import MagicKeyDialog
from peerwave_tui.ui.screens.new_conversation import NewConversationScreen
from peerwave_tui.ui.screens.quick_switcher import QuickSwitcher, SwitcherEntry
from peerwave_tui.ui.screens.safety_number import SafetyAction, SafetyNumberScreen
from peerwave_tui.ui.widgets.composer import Composer

if TYPE_CHECKING:
    from peerwave_tui.ui.screens.main import MainScreen


async def _done(call: Awaitable[None]) -> bool:
    """Turn a call that returns nothing into True (``guarded`` gives None on failure)."""
    await call
    return True


async def accept_identity(screen: MainScreen, account_id: str, contact_id: str) -> bool:
    accepted = await screen.guarded(
        _done(screen.manager.accept_identity(account_id, contact_id)), "Accept new key"
    )
    if accepted:
        screen.set_identity_blocked(account_id, contact_id, False)
    return bool(accepted)


async def resolve_identity(
    screen: MainScreen, account_id: str, contact_id: str, composer: Composer | None
) -> None:
    """Sending hit a changed identity: verify the safety number, or accept the new key."""
    title = screen.title_of(account_id, contact_id)
    choice = await screen.app.push_screen_wait(IdentityChangeDialog(title))
    if choice is IdentityChoice.VERIFY:
        await safety_number(screen, account_id, contact_id)
    elif choice is IdentityChoice.ACCEPT and await accept_identity(screen, account_id, contact_id):
        screen.notify("New key accepted.", timeout=4)
    conversation = screen.conversation(account_id, contact_id)
    if composer is not None and conversation is not None and not conversation.identity_blocked:
        composer.focus()


async def safety_number(screen: MainScreen, account_id: str, contact_id: str) -> None:
    number = await screen.guarded(
        screen.manager.safety_number(account_id, contact_id), "Safety number"
    )
    if number is None:
        return
    title = screen.title_of(account_id, contact_id)
    action = await screen.app.push_screen_wait(SafetyNumberScreen(number, title))
    if action is None:
        return
    if number.changed and not await accept_identity(screen, account_id, contact_id):
        return
    if action is SafetyAction.VERIFY:
        verified = await screen.guarded(
            _done(screen.manager.mark_verified(account_id, contact_id)), "Mark verified"
        )
        if verified:
            screen.notify(f"{title} is verified.", timeout=4)


async def quick_switch(screen: MainScreen) -> None:
    entries = [
        SwitcherEntry(
            tab.account_id,
            conv.conversation_id,
            # channels read "#name", as in the conversation list
            f"#{conv.title}" if conv.kind is ConversationKind.GROUP else conv.title,
            tab.name,
            conv.unread,
        )
        for tab in screen.tab_order()
        for conv in tab.sorted_conversations()
    ]
    choice = await screen.app.push_screen_wait(QuickSwitcher(entries))
    if choice is not None:
        screen.open_conversation(*choice)


async def new_conversation(screen: MainScreen, account_id: str) -> None:
    tab = screen.tabs.get(account_id)
    if tab is None:
        return
    people = NewConversationScreen(lambda: screen.manager.people(account_id), tab.name)
    contact = await screen.app.push_screen_wait(people)
    if contact is None:
        return
    conversation = await screen.guarded(
        screen.manager.open_conversation(account_id, contact), "New conversation"
    )
    if conversation is None or account_id not in screen.tabs:
        return
    screen.tabs[account_id].conversations[conversation.conversation_id] = conversation
    screen.refresh_tab(account_id)
    screen.open_conversation(account_id, conversation.conversation_id)


async def magic_key(screen: MainScreen, account_id: str) -> None:
    key = await screen.guarded(screen.manager.magic_key(account_id), "Magic key")
    tab = screen.tabs.get(account_id)
    if key is not None and tab is not None:
        await screen.app.push_screen_wait(MagicKeyDialog(key, tab.name))


async def remove_server(screen: MainScreen, account_id: str) -> None:
    tab = screen.tabs.get(account_id)
    if tab is None:
        return
    confirmed = await screen.app.push_screen_wait(
        ConfirmDialog(
            f"Remove {tab.name}?",
            f"This removes the account {tab.account.email} from this device. "
            "Other servers are not affected.",
            confirm="Remove",
        )
    )
    if not confirmed:
        return
    removed = await screen.guarded(
        _done(screen.manager.remove_account(account_id)), "Remove server"
    )
    if removed:
        await screen.drop_tab(account_id)

"""App-wide key bindings, and the fix that lets Alt+digit reach them in real terminals.

tmux and xterm send Alt+digit as ESC followed by the digit. Textual's escape-sequence
table maps those pairs to symbol characters (ESC 2 becomes '™', ESC 3 becomes '£', as
macOS Option+digit would type), so a ``Binding("alt+2")`` never fires and a focused
composer types the symbol instead. Removing the ESC+digit entries makes Textual report
``alt+<digit>``, which a priority binding catches before the composer sees it, while a
'£' typed on its own still arrives as '£'. The table is private: Textual is pinned and
``tests/ui/test_keys.py`` fails if the table's shape changes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from textual.binding import Binding

log = logging.getLogger(__name__)

ESCAPE_DIGIT_SEQUENCES = tuple(f"\x1b{digit}" for digit in "0123456789")


def fix_escape_digit_keys() -> int:
    """Make ESC+digit arrive as ``alt+<digit>``; idempotent. Returns how many entries went."""
    from textual import _ansi_sequences

    table = cast(dict[str, object], _ansi_sequences.ANSI_SEQUENCES_KEYS)
    removed = 0
    for sequence in ESCAPE_DIGIT_SEQUENCES:
        if table.pop(sequence, None) is not None:
            removed += 1
    return removed


@dataclass(frozen=True)
class AppKey:
    """One app-wide binding: its id (the name in ``[keymap]``), default keys and action."""

    id: str
    keys: str
    action: str
    description: str  # what the help screen says
    footer: str = ""  # a short label for the footer; empty: not in the footer

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.action,
            self.footer or self.description,
            show=bool(self.footer),
            priority=True,
            id=self.id,
            tooltip=self.description,
        )


APP_KEYS: tuple[AppKey, ...] = (
    *(
        AppKey(f"goto_tab_{n}", f"alt+{n}", f"goto_tab({n})", f"Go to server tab {n}")
        for n in range(1, 10)
    ),
    AppKey("next_tab", "ctrl+pagedown", "cycle_tab(1)", "Next server tab"),
    AppKey("previous_tab", "ctrl+pageup", "cycle_tab(-1)", "Previous server tab"),
    AppKey("quick_switcher", "ctrl+k", "quick_switcher", "Go to any conversation", "Go to"),
    AppKey(
        "next_unread", "alt+a", "next_unread", "Next conversation with unread messages", "Unread"
    ),
    AppKey("new_conversation", "ctrl+n", "new_conversation", "Start a conversation", "New"),
    AppKey("retry_failed", "ctrl+r", "retry_failed", "Retry the failed messages here"),
    AppKey("command_palette", "ctrl+p", "command_palette", "Command palette", "Commands"),
    AppKey("help", "f1", "help", "Keys and help", "Help"),
    AppKey("quit", "ctrl+q", "quit", "Quit", "Quit"),
)


def app_bindings() -> list[Binding]:
    return [key.binding() for key in APP_KEYS]


def effective_keymap(keymap: Mapping[str, str]) -> dict[str, str]:
    """The user's ``[keymap]`` restricted to known binding ids (unknown ids are logged)."""
    known = {key.id for key in APP_KEYS}
    result: dict[str, str] = {}
    for binding_id, keys in keymap.items():
        if binding_id not in known:
            log.warning("config keymap: unknown binding id %r ignored", binding_id)
            continue
        cleaned = ",".join(part.strip() for part in keys.split(",") if part.strip())
        if cleaned:
            result[binding_id] = cleaned
    return result


def keys_for(binding_id: str, keymap: Mapping[str, str]) -> str:
    """The keys a binding currently answers to (after the user's remapping)."""
    for key in APP_KEYS:
        if key.id == binding_id:
            return keymap.get(binding_id, key.keys)
    raise KeyError(binding_id)

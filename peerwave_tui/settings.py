"""Typed settings, loaded once from ``config.toml`` and passed down.

``config.toml`` holds preferences only: never secrets, message text or contact names
(muted conversations are stored by id).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from peerwave_tui.errors import ConfigError
from peerwave_tui.storage.fs import write_private_file

DEFAULT_THEME = "peerwave-dark"


@dataclass
class NotificationSettings:
    bell: bool = True  # ring the terminal bell for messages in other conversations
    desktop: bool = True  # OSC 777/9 desktop notifications where the terminal supports them
    show_text: bool = False  # include message text in desktop notifications
    enabled: bool = True  # master switch (palette: toggle notifications)


@dataclass
class Settings:
    """Everything ``config.toml`` may contain. Unknown keys are ignored (and kept out)."""

    theme: str = DEFAULT_THEME
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys ("alt+1,f2")
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    muted_servers: list[str] = field(default_factory=list)  # account ids
    muted_conversations: list[str] = field(default_factory=list)  # "account_id|conversation_id"

    # --- persistence ---------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> Settings:
        if not path.exists():
            return cls()
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config.toml") -> Settings:
        settings = cls()
        theme = raw.get("theme", settings.theme)
        if not isinstance(theme, str):
            raise ConfigError(f"{source}: 'theme' must be a string.")
        settings.theme = theme
        keymap = raw.get("keymap", {})
        if not isinstance(keymap, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in keymap.items()
        ):
            raise ConfigError(f"{source}: [keymap] maps binding ids to key strings.")
        settings.keymap = dict(keymap)
        notes = raw.get("notifications", {})
        if not isinstance(notes, dict):
            raise ConfigError(f"{source}: [notifications] must be a table.")
        for name in ("bell", "desktop", "show_text", "enabled"):
            if name in notes:
                if not isinstance(notes[name], bool):
                    raise ConfigError(f"{source}: notifications.{name} must be true or false.")
                setattr(settings.notifications, name, notes[name])
        for name in ("muted_servers", "muted_conversations"):
            value = raw.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{source}: '{name}' must be a list of strings.")
            setattr(settings, name, list(value))
        return settings

    def to_dict(self) -> dict[str, Any]:
        return {
            "theme": self.theme,
            "keymap": dict(self.keymap),
            "notifications": {
                "bell": self.notifications.bell,
                "desktop": self.notifications.desktop,
                "show_text": self.notifications.show_text,
                "enabled": self.notifications.enabled,
            },
            "muted_servers": list(self.muted_servers),
            "muted_conversations": list(self.muted_conversations),
        }

    def save(self, path: Path) -> None:
        write_private_file(path, tomli_w.dumps(self.to_dict()).encode("utf-8"))

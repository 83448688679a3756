"""``servers.toml``: the saved servers and accounts (no secrets, no contact names).

Our own display name and e-mail are kept here so tabs can be drawn before any store
is unlocked; everything else about an account lives in its encrypted store.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from peerwave_tui.errors import ConfigError
from peerwave_tui.models import AccountRecord, KeyMode
from peerwave_tui.storage.fs import write_private_file

_STR_FIELDS = ("server_url", "server_key", "client_id", "email")
_OPTIONAL_STR = ("user_id", "display_name", "server_name")


def load_accounts(path: Path) -> list[AccountRecord]:
    if not path.exists():
        return []
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    entries = raw.get("accounts", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'accounts' must be an array of tables.")
    return [_parse(entry, path, index) for index, entry in enumerate(entries)]


def _parse(entry: Any, path: Path, index: int) -> AccountRecord:
    where = f"{path}: account #{index + 1}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is not a table.")
    for name in _STR_FIELDS:
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise ConfigError(f"{where} lacks '{name}'.")
    for name in _OPTIONAL_STR:
        if name in entry and not isinstance(entry[name], str):
            raise ConfigError(f"{where}: '{name}' must be a string.")
    device_id = entry.get("device_id")
    if device_id is not None and (not isinstance(device_id, int) or isinstance(device_id, bool)):
        raise ConfigError(f"{where}: 'device_id' must be an integer.")
    try:
        key_mode = KeyMode(entry.get("key_mode", KeyMode.KEYRING.value))
    except ValueError as exc:
        raise ConfigError(f"{where}: unknown key_mode {entry.get('key_mode')!r}.") from exc
    return AccountRecord(
        server_url=entry["server_url"],
        server_key=entry["server_key"],
        client_id=entry["client_id"],
        email=entry["email"],
        user_id=entry.get("user_id"),
        device_id=device_id,
        display_name=entry.get("display_name"),
        server_name=entry.get("server_name"),
        key_mode=key_mode,
    )


def save_accounts(path: Path, accounts: list[AccountRecord]) -> None:
    entries = []
    for account in accounts:
        if account.key_mode is KeyMode.MEMORY:
            continue  # throwaway demo accounts are never saved
        entry: dict[str, Any] = {
            "server_url": account.server_url,
            "server_key": account.server_key,
            "client_id": account.client_id,
            "email": account.email,
            "key_mode": account.key_mode.value,
        }
        for name in _OPTIONAL_STR:
            value = getattr(account, name)
            if value is not None:
                entry[name] = value
        if account.device_id is not None:
            entry["device_id"] = account.device_id
        entries.append(entry)
    write_private_file(path, tomli_w.dumps({"accounts": entries}).encode("utf-8"))

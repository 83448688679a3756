"""Fixtures for the Signal tests: accounts on real SQLCipher files in tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from peerwave_tui.signal import hardening
from tests.signal.support import Account, Clock, KeyDirectory


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def directory() -> KeyDirectory:
    return KeyDirectory()


@pytest.fixture
def make_account(tmp_path: Path, clock: Clock, directory: KeyDirectory) -> Callable[..., Account]:
    """``make_account("alice")``: a device with published keys (user id = name)."""

    def make(name: str, device_id: int = 1, user_id: str | None = None) -> Account:
        account = Account(tmp_path, f"{name}-{device_id}", user_id or name, device_id, clock)
        account.setup(directory)
        return account

    return make


@pytest.fixture
def bare_axolotl(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """For the duration of a test, python-axolotl's own functions instead of our
    hardened ones: shows what the bare library does in the same scenario."""
    for owner, name, original in hardening.bare_functions():
        monkeypatch.setattr(owner, name, original)
    assert not hardening.is_applied()
    yield

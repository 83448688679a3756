"""Fixtures for the storage tests: paths, a real Secret Service, keyrings.alt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from peerwave_tui.paths import Paths

REPO = Path(__file__).resolve().parents[2]


def _must_not_skip() -> bool:
    return os.environ.get("PEERWAVE_TUI_NO_SKIPS") == "1" or bool(os.environ.get("CI"))


def _unavailable(reason: str) -> None:
    """Fail where every test must run (CI, scripts/test); skip only on a bare checkout."""
    if _must_not_skip():
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def paths(hermetic_home: Path) -> Paths:
    """The test's Paths (roots not created yet: tests check what the code creates)."""
    return Paths.from_home(hermetic_home)


@pytest.fixture
def secret_service() -> object:
    """A real, unlocked Secret Service (gnome-keyring under dbus-run-session)."""
    try:
        from keyring.backends import SecretService

        SecretService.Keyring.priority  # noqa: B018 - raises when no Secret Service is reachable
        backend = SecretService.Keyring()
        backend.get_password("peerwave-tui-test", "probe")
    except Exception as exc:  # noqa: BLE001
        _unavailable(
            f"no Secret Service reachable ({exc}); run under "
            "dbus-run-session -- scripts/_in-keyring-session"
        )
    return backend


@pytest.fixture
def keyrings_alt_dir() -> Path:
    """keyrings.alt installed apart from the venv (scripts/test puts it in .test-deps)."""
    configured = os.environ.get("PEERWAVE_TUI_KEYRINGS_ALT")
    directory = Path(configured) if configured else REPO / ".test-deps" / "keyrings-alt"
    if not (directory / "keyrings" / "alt" / "file.py").is_file():
        _unavailable(f"keyrings.alt is not installed in {directory} (scripts/test installs it)")
    return directory

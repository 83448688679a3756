"""Shared fixtures: every test runs hermetic, with its own home and no user config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def hermetic_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh PEERWAVE_TUI_HOME per test; no passphrase leaks in from the caller."""
    home = tmp_path / "pwhome"
    monkeypatch.setenv("PEERWAVE_TUI_HOME", str(home))
    monkeypatch.delenv("PEERWAVE_TUI_PASSPHRASE", raising=False)
    monkeypatch.setenv("TEXTUAL_DISABLE_BLINK", "1")
    return home


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    """In CI (scripts/test sets PEERWAVE_TUI_NO_SKIPS) a skipped test fails the run."""
    if os.environ.get("PEERWAVE_TUI_NO_SKIPS") != "1":
        return
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(
            f"ERROR: {len(skipped)} test(s) were skipped; every test must run here.",
            red=True,
        )


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    if os.environ.get("PEERWAVE_TUI_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = 1

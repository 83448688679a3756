"""The command line's global behaviour: version, locate, global options anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from peerwave_tui import __version__
from peerwave_tui.cli import main


def test_version_is_plain_semver() -> None:
    parts = __version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"peerwave-tui {__version__}"


@pytest.mark.parametrize(
    "argv",
    [["--home", "{home}", "locate"], ["locate", "--home", "{home}"]],
    ids=["before", "after"],
)
def test_home_before_or_after_subcommand(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "h"
    assert main([a.format(home=home) for a in argv]) == 0
    out = capsys.readouterr().out
    assert f"config: {home / 'config'}" in out
    assert f"data:   {home / 'data'}" in out
    assert f"logs:   {home / 'logs'}" in out


def test_home_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PEERWAVE_TUI_HOME", str(tmp_path / "envhome"))
    assert main(["locate"]) == 0
    assert str(tmp_path / "envhome" / "data") in capsys.readouterr().out


def test_locate_without_home_uses_platformdirs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PEERWAVE_TUI_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xc"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xd"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xs"))
    assert main(["locate"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "xc" / "peerwave-tui") in out
    assert str(tmp_path / "xd" / "peerwave-tui") in out


def test_module_entry_point_and_console_script(tmp_path: Path) -> None:
    env = dict(os.environ, PEERWAVE_TUI_HOME=str(tmp_path / "m"))
    by_module = subprocess.run(
        [sys.executable, "-m", "peerwave_tui", "locate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert by_module.returncode == 0, by_module.stderr
    assert str(tmp_path / "m" / "config") in by_module.stdout
    script = Path(sys.executable).with_name("peerwave-tui")
    by_script = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, env=env, timeout=60
    )
    assert by_script.returncode == 0, by_script.stderr
    assert by_script.stdout.strip() == f"peerwave-tui {__version__}"


def test_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err

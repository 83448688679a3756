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


# Every subcommand, nested actions included, with what it needs to parse.
_COMMAND_LINES = [
    ["send", "--to", "x", "hi"],
    ["receive"],
    ["verify", "--contact", "x"],
    ["account", "list"],
    ["account", "remove"],
    ["account", "magic-key"],
    ["channel", "list"],
    ["channel", "discover"],
    ["channel", "create", "lounge"],
    ["channel", "join", "lounge"],
    ["channel", "leave", "lounge"],
    ["channel", "members", "lounge"],
]


@pytest.mark.parametrize("command", _COMMAND_LINES, ids=" ".join)
def test_global_options_after_any_subcommand(command: list[str], tmp_path: Path) -> None:
    from peerwave_tui.cli import build_parser

    home, server = str(tmp_path / "h"), "http://127.0.0.1:3000"
    parser = build_parser()
    after = parser.parse_args([*command, "--home", home, "--server", server])
    before = parser.parse_args(["--home", home, "--server", server, *command])
    assert after.home == before.home == home
    assert after.server == before.server == server


def test_a_home_that_cannot_be_created_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["--home", str(blocker / "home"), "receive"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("peerwave-tui: error: Cannot create the directory") and "\n" == err[-1:]
    assert err.count("\n") == 1


def test_devserver_refuses_a_port_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["devserver", "--port", "99999"])
    assert exc.value.code == 2
    assert "a port is 0..65535, not 99999" in capsys.readouterr().err


def test_building_the_parser_imports_nothing_heavy() -> None:
    """The app's first frame waits for the parser: the client stack (aiohttp, the
    Signal layer, groups) is imported later, in the background."""
    probe = (
        "import sys\n"
        "from peerwave_tui.cli import build_parser\n"
        "build_parser()\n"
        "heavy = ('aiohttp', 'axolotl', 'google.protobuf', 'peerwave_tui.signal',"
        " 'peerwave_tui.groups', 'peerwave_tui.manager', 'textual')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_reader_that_went_away_ends_the_command_quietly(tmp_path: Path) -> None:
    """``peerwave-tui receive | head``: once the reader is gone, no traceback and no
    "unexpected error", just the shell's status for a broken pipe."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read what the command prints
    try:
        done = subprocess.run(
            [sys.executable, "-m", "peerwave_tui", "--home", str(tmp_path / "h"), "locate"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert done.stderr == ""

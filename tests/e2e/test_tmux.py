"""``peerwave-tui demo`` in a real terminal (tmux): it starts, a typed message gets its
answer, every app-wide key works with the composer focused (Alt+digit arrives as ESC
digit), a typed '£' reaches the composer, a resize draws, and Ctrl+Q leaves within 3 s
with exit status 0, no traceback, no child process and (without --home) no temporary
home left behind."""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.tmux import (
    Tmux,
    processes_mentioning,
    processes_with_env,
    wait_for_file,
    wait_until,
)

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PROGRAM = Path(sys.executable).parent / "peerwave-tui"
QUIT_WITHIN = 3.0  # seconds, from Ctrl+Q to the shell's "EXITED" line (the bound)
SYMBOLS = "¡™£¢∞§¶•ªº"  # what ESC+digit would type if the escape fix were missing


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    assert shutil.which("tmux"), "tmux is needed (scripts/test installs it)"
    session = Tmux()
    try:
        yield session
    finally:
        session.kill()


def _command(*args: str, exit_file: Path, env: dict[str, str] | None = None) -> str:
    """The pane's shell command; ``$?`` stays for that shell to expand."""
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    program = " ".join(shlex.quote(a) for a in (str(PROGRAM), *args))
    run = f"{assignments} {program}".strip()
    return f"cd {shlex.quote(str(REPO))} && {run}; echo EXITED $? > {shlex.quote(str(exit_file))}; sleep 30"


def _composer_line(screen: str) -> str:
    """The composer's text line (between its rounded borders)."""
    lines = screen.splitlines()
    for index, line in enumerate(lines):
        if "╭" in line and index + 1 < len(lines):
            return lines[index + 1]
    return ""


PROGRESS = ("Starting", "Setting up", "Creating your account", "Opening your account")


def _demo_ready(tmux: Tmux) -> None:
    """Open on Nora, history loaded, setup finished (so the composer has focus)."""
    tmux.wait_for(
        lambda s: (
            "Demo South" in s
            and "No messages yet" in s
            and "● Connected" in s
            and not any(word in s for word in PROGRESS)
        ),
        "the demo open on Nora",
        timeout=60,
    )


def _quit(tmux: Tmux, exit_file: Path) -> None:
    sent = time.monotonic()
    tmux.keys("C-q")
    status = wait_for_file(exit_file, timeout=30)
    took = time.monotonic() - sent
    assert status == "EXITED 0", status
    assert took < QUIT_WITHIN, f"Ctrl+Q took {took:.1f} s"
    assert "Traceback" not in tmux.screen(history=True)


def test_the_demo_in_a_real_terminal_with_every_key(tmux: Tmux, tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    exit_file = tmp_path / "exit.txt"
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text("tmux test passphrase\n", encoding="utf-8")
    tmux.start(
        _command(
            "demo",
            "--home",
            str(home),
            "--passphrase-file",
            str(passphrase_file),
            exit_file=exit_file,
        )  # fmt: skip
    )
    _demo_ready(tmux)

    # A typed message gets its answer.
    tmux.type("hello from tmux")
    tmux.keys("Enter")
    tmux.wait_text("echo: hello from tmux", timeout=20)

    # Alt+2 shows the second server, with its composer focused (the answer proves it).
    tmux.keys("M-2")
    tmux.wait_gone("echo: hello from tmux")
    tmux.type("hi Sol")
    tmux.keys("Enter")
    tmux.wait_text("echo: hi Sol", timeout=20)
    tmux.keys("M-1")
    tmux.wait_text("echo: hello from tmux")
    # Alt+3 … Alt+9: no such tab; nothing happens and no symbol is typed.
    for digit in "3456789":
        tmux.keys(f"M-{digit}")
    tmux.keys("C-PPage")  # previous tab (wraps round to Demo South)
    tmux.wait_text("echo: hi Sol")
    screen = tmux.screen()
    assert not any(symbol in screen for symbol in SYMBOLS), _composer_line(screen)
    tmux.keys("C-NPage")  # next tab: back to Demo North
    tmux.wait_text("echo: hello from tmux")

    tmux.keys("C-k")
    tmux.wait_text("Go to conversation")
    tmux.keys("Escape")
    tmux.wait_gone("Go to conversation")
    tmux.keys("M-a")
    tmux.wait_text("Nothing unread.")
    tmux.keys("C-n")
    tmux.wait_text("New conversation on Demo North")
    tmux.keys("Escape")
    tmux.wait_gone("New conversation on Demo North")
    tmux.keys("C-p")
    tmux.wait_text("Search for commands")
    tmux.keys("Escape")
    tmux.wait_gone("Search for commands")
    tmux.keys("F1")
    tmux.wait_text("Go to server tab 1")
    tmux.keys("Escape")
    tmux.wait_gone("Go to server tab 1")

    # A typed '£' is text, not Alt+3.
    tmux.type("£5")
    screen = tmux.wait_for(lambda s: "£5" in _composer_line(s), "'£5' in the composer")
    assert "echo: hello from tmux" in screen  # still on Demo North

    tmux.resize(60, 20)
    screen = tmux.wait_for(
        lambda s: max(len(line) for line in s.splitlines()) <= 60 and "Demo North" in s,
        "the app drawn at 60×20",
    )
    assert "Traceback" not in screen and "Error" not in screen

    _quit(tmux, exit_file)
    log = (home / "logs" / "peerwave-tui.log").read_text(encoding="utf-8")
    assert "Traceback" not in log
    assert "hello from tmux" not in log  # message text never reaches the log
    assert processes_mentioning(str(home / "data")) == []  # the dev servers' --data


def test_without_home_the_temporary_home_is_removed(
    tmux: Tmux, tmp_path: Path, hermetic_home: Path
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    exit_file = tmp_path / "exit.txt"
    tmux.start(_command("demo", exit_file=exit_file, env={"TMPDIR": str(scratch)}))
    _demo_ready(tmux)
    homes = [p for p in scratch.iterdir() if p.name.startswith("peerwave-tui-demo-")]
    assert len(homes) == 1, homes
    assert "throwaway keys held in memory" in tmux.screen()
    tmux.type("still there?")
    tmux.keys("Enter")
    tmux.wait_text("echo: still there?", timeout=20)
    _quit(tmux, exit_file)
    assert list(scratch.iterdir()) == []
    assert processes_mentioning(str(homes[0] / "data")) == []
    # The log stays where logs go (here the test's PEERWAVE_TUI_HOME), not in the demo.
    log = (hermetic_home / "logs" / "peerwave-tui.log").read_text(encoding="utf-8")
    assert "Traceback" not in log and "still there?" not in log


def test_closing_the_terminal_closes_the_demo_cleanly(tmux: Tmux, tmp_path: Path) -> None:
    """The terminal goes away (SIGHUP) with the demo running: it closes like Ctrl+Q."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    marker = f"TMPDIR={scratch}"
    tmux.start(_command("demo", exit_file=tmp_path / "exit.txt", env={"TMPDIR": str(scratch)}))
    _demo_ready(tmux)
    (home,) = scratch.iterdir()
    assert processes_with_env(marker)
    tmux.kill()
    wait_until(lambda: not processes_with_env(marker), "the demo to end", 30)
    assert list(scratch.iterdir()) == []  # the temporary home is gone
    assert processes_mentioning(str(home / "data")) == []


def test_the_app_without_servers_opens_the_wizard_and_quits(tmux: Tmux, tmp_path: Path) -> None:
    exit_file = tmp_path / "exit.txt"
    tmux.start(_command("--home", str(tmp_path / "home"), exit_file=exit_file))
    tmux.wait_text("Welcome to peerwave-tui: add a server", timeout=60)
    _quit(tmux, exit_file)

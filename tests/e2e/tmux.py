"""Driving a program in a real terminal: a tmux server of our own (``tmux -L``), a
session, keys in, the screen out, and deadlines instead of sleeps."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path


def _terminal_env() -> dict[str, str]:
    """Our environment for the tmux server (the pane inherits it), minus the size
    variables a test runner may have set (COLUMNS=80 would win over the real size)."""
    return {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}


class Tmux:
    """One tmux server (own socket, so parallel runs never meet) with one session."""

    def __init__(self, name: str = "pw") -> None:
        self.socket = f"peerwave-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.session = name

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            env=_terminal_env(),
        )
        if result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def start(self, command: str, width: int = 120, height: int = 40) -> None:
        """Run ``command`` (a shell command line, given to tmux as one argument, so
        ``$?`` is expanded by the pane's shell, not by ours)."""
        self.tmux(
            "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), command
        )

    def keys(self, *keys: str) -> None:
        """Key names as tmux spells them (``M-2``, ``C-PPage``, ``Enter``, ``F1``)."""
        self.tmux("send-keys", "-t", self.session, *keys)

    def type(self, text: str) -> None:
        """Literal text, each character as typed (UTF-8 for '£')."""
        self.tmux("send-keys", "-t", self.session, "-l", text)

    def screen(self, *, history: bool = False) -> str:
        args = ["capture-pane", "-p", "-t", self.session]
        if history:
            args += ["-S", "-"]
        return self.tmux(*args)

    def resize(self, width: int, height: int) -> None:
        self.tmux("resize-window", "-t", self.session, "-x", str(width), "-y", str(height))

    def wait_for(self, predicate: Callable[[str], object], what: str, timeout: float = 30.0) -> str:
        """Poll the screen until ``predicate(screen)`` holds; return that screen."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.05)
        size = self.tmux("display", "-p", "-t", self.session, "#{window_width}x#{window_height}")
        raise AssertionError(
            f"timed out after {timeout} s waiting for {what}; screen ({size.strip()}):\n{screen}"
        )

    def wait_text(self, text: str, timeout: float = 30.0) -> str:
        return self.wait_for(lambda screen: text in screen, repr(text), timeout)

    def wait_gone(self, text: str, timeout: float = 30.0) -> str:
        return self.wait_for(lambda screen: text not in screen, f"{text!r} to go", timeout)

    def kill(self) -> None:
        """End the server (the pane's programs get SIGHUP) and remove its socket."""
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"],
            capture_output=True,
            timeout=20,
            check=False,
            env=_terminal_env(),
        )
        sockets = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        (sockets / self.socket).unlink(missing_ok=True)


def wait_for_file(path: Path, timeout: float) -> str:
    """The text of ``path`` once it exists and is not empty."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_text(encoding="utf-8").strip()
            if text:
                return text
        time.sleep(0.02)
    raise AssertionError(f"{path} did not appear within {timeout} s")


def processes_mentioning(fragment: str) -> list[str]:
    """Command lines of live processes that mention ``fragment`` (e.g. a demo home)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "\nState:\tZ" in status:
            continue  # a zombie has finished; only its parent has not reaped it yet
        command = raw.replace(b"\0", b" ").decode("utf-8", "replace")
        if fragment in command:
            found.append(f"{entry.name}: {command}")
    return found


def processes_with_env(assignment: str) -> list[str]:
    """Live processes whose environment holds ``NAME=value`` (e.g. a test's TMPDIR)."""
    found = []
    wanted = assignment.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if wanted in environ and "\nState:\tZ" not in status:
            found.append(f"{entry.name}: {command.decode('utf-8', 'replace')}")
    return found


def wait_until(predicate: Callable[[], object], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)

"""What a peer writes cannot drive the reader's terminal through ``receive``.

A message and a display name full of escape sequences (a window title, colours, a
carriage return, a forged second line, C1 controls) are printed cleaned by plain
``receive``, and exactly, but escaped, by ``receive --json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.devserver_fixtures import running_devserver
from tests.integration.helpers import cli

NASTY_NAME = "Mal\x1b[31mlory\x9b2J"
NASTY_TEXT = "hi\x1b]0;PWNED\x07 there\r\n[2026-01-01T00:00:00.000Z] Bob: forged\x9b31m"
# Nothing that starts an escape sequence may reach the terminal: ESC, BEL, CR, CSI.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


async def _register(home: Path, server: object, email: str, name: str) -> None:
    url = server.url  # type: ignore[attr-defined]
    otp_file = server.otp_file  # type: ignore[attr-defined]
    rc, _out, err = await cli(
        home, "account", "register", "--server", url, "--email", email, "--name", name,
        "--otp-command", f"grep '^{email} ' {otp_file} | tail -n 1",
    )  # fmt: skip
    assert rc == 0, err


async def test_receive_prints_peer_text_without_control_characters(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        mallory, alice = tmp_path / "mallory", tmp_path / "alice"
        await _register(alice, server, "alice@example.org", "Alice")
        await _register(mallory, server, "mallory@example.org", NASTY_NAME)
        rc, _out, err = await cli(mallory, "send", "--to", "alice@example.org", NASTY_TEXT)
        assert rc == 0, err
        rc, _out, err = await cli(mallory, "send", "--to", "alice@example.org", "second")
        assert rc == 0, err

        rc, out, err = await cli(alice, "receive", "--json")
        assert rc == 0, err
        lines = out.splitlines()
        assert len(lines) == 2
        assert not _CONTROL.search(out.replace("\n", ""))  # escaped inside the JSON
        first = json.loads(lines[0])
        assert first["text"] == NASTY_TEXT and first["senderName"] == NASTY_NAME

        # Those two are reported now: Mallory sends them again for the plain reader.
        for text in (NASTY_TEXT, "second"):
            rc, _out, err = await cli(mallory, "send", "--to", "alice@example.org", text)
            assert rc == 0, err
        rc, out, err = await cli(alice, "receive")
        assert rc == 0, err
        assert not _CONTROL.search(out.replace("\n", ""))
        printed = out.splitlines()
        # Two messages: each starts a line with its timestamp; the forged line of the
        # first is indented, so it cannot pass for a message of its own.
        starts = [line for line in printed if line.startswith("[")]
        assert len(starts) == 2, printed
        assert "Mal" in starts[0] and "lory" in starts[0] and starts[1].endswith(": second")
        assert any(line.startswith("    [2026-01-01") and "forged" in line for line in printed)

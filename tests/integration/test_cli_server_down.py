"""A command against a server that is down says so at once; nothing is lost."""

from __future__ import annotations

import time
from pathlib import Path

from tests.devserver_fixtures import running_devserver
from tests.integration.helpers import cli, one_line_error


async def test_receive_against_a_stopped_server_fails_at_once(tmp_path: Path) -> None:
    home = tmp_path / "alice"
    async with running_devserver(tmp_path / "srv") as server:
        email = "alice@example.org"
        rc, _out, err = await cli(
            home, "account", "register", "--server", server.url, "--email", email,
            "--name", "Alice", "--otp-command", f"grep '^{email} ' {server.otp_file} | tail -n 1",
        )  # fmt: skip
        assert rc == 0, err
    # The server is gone: its port refuses connections.
    started = time.monotonic()
    rc, out, err = await cli(home, "receive", timeout=60)
    elapsed = time.monotonic() - started
    one_line_error(rc, err)
    assert "Could not fetch messages" in err and "cannot reach" in err.lower()
    assert out == ""
    # Well before the 30 s the first drain may take on a live but slow server.
    assert elapsed < 20, elapsed

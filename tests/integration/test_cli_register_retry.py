"""``account register`` on a terminal: a refused display name is asked for again in the
same run (the server lets a name be chosen only while registering), and the account
ends up finished, with its name, instead of nameless."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import sys
from pathlib import Path

from tests.devserver_fixtures import create_account, running_devserver
from tests.integration.helpers import REPO, cli, cli_env


async def test_a_refused_name_is_asked_again_on_a_terminal(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        await create_account(server.url, server, display_name="Taken Name")
        home = tmp_path / "new"
        email = "new@example.org"
        master, slave = pty.openpty()  # stdin is a terminal; the answer is typed into it
        try:
            os.write(master, b"Fresh Name\n")
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "peerwave_tui", "--home", str(home),
                "account", "register", "--server", server.url, "--email", email,
                "--name", "Taken Name",
                "--otp-command", f"grep '^{email} ' {server.otp_file} | tail -n 1",
                stdin=slave, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=cli_env(), cwd=REPO,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(), 120)
        finally:
            os.close(slave)
            os.close(master)
        assert proc.returncode == 0, err.decode()
        assert "refused the profile" in err.decode()
        assert "Account created." in out.decode()

        rc, listed, err_text = await cli(home, "account", "list", "--json")
        assert rc == 0, err_text
        assert [a["name"] for a in json.loads(listed)] == ["Fresh Name"]

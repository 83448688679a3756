"""The scriptable CLI end to end: real subprocesses, a real dev server, real keyring."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from tests.devserver_fixtures import running_devserver
from tests.integration.helpers import cli, one_line_error


async def test_cli_register_send_receive_verify(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        otp_cmd = f"grep '^{{email}} ' {server.otp_file} | tail -n 1"
        homes = {"alice": tmp_path / "alice", "bob": tmp_path / "bob"}

        for name, home in homes.items():
            email = f"{name}@example.org"
            rc, out, err = await cli(
                home,
                "account",
                "register",
                "--server",
                server.url,
                "--email",
                email,
                "--name",
                name.title(),
                "--otp-command",
                otp_cmd.format(email=email),
            )
            assert rc == 0, err
            codes = re.findall(r"^\s+([A-Z0-9]{16})$", out, re.M)
            assert len(codes) == 9  # one of the ten went into the first login
            assert err == ""

        rc, out, err = await cli(homes["alice"], "account", "list", "--json")
        assert rc == 0, err
        listed = json.loads(out)
        assert [set(a) for a in listed] == [
            {"server", "serverName", "email", "name", "userId", "deviceId", "clientId"}
        ]
        assert listed[0]["email"] == "alice@example.org" and listed[0]["name"] == "Alice"

        # Global options after the subcommand work too.
        rc, out, err = await cli(homes["alice"], "send", "--to", "Bob", "hello from cli")
        assert rc == 0, err
        assert out == ""

        rc, out, err = await cli(homes["bob"], "receive", "--json", "--read")
        assert rc == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        assert len(lines) == 1
        msg = lines[0]
        assert msg["text"] == "hello from cli"
        assert msg["conversation"] == "Alice" and msg["senderName"] == "Alice"
        assert msg["direction"] == "in" and msg["type"] == "message"
        assert msg["server"] == server.url
        assert set(msg) == {
            "server",
            "itemId",
            "conversation",
            "sender",
            "senderName",
            "senderDevice",
            "type",
            "text",
            "timestamp",
            "direction",
        }

        # Already reported: a second receive prints nothing.
        rc, out, err = await cli(homes["bob"], "receive", "--json")
        assert (rc, out) == (0, ""), err

        rc, alice_view, err = await cli(homes["alice"], "verify", "--contact", "bob@example.org")
        assert rc == 0, err
        rc, bob_view, err = await cli(homes["bob"], "verify", "--contact", "Alice")
        assert rc == 0, err
        assert re.fullmatch(r"(\d{5} ){11}\d{5}\n", alice_view)
        assert alice_view == bob_view

        # A command that fails while it is still connecting ends at once (closing
        # must not wait on the half-open connection).
        started = time.monotonic()
        rc, out, err = await cli(homes["alice"], "send", "--to", "Nobody", "x")
        assert time.monotonic() - started < 25
        one_line_error(rc, err)
        assert out == "" and "No contact matches 'Nobody'" in err


async def test_cli_register_without_terminal_or_otp_command_fails_cleanly(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        rc, out, err = await cli(
            tmp_path / "h",
            "account",
            "register",
            "--server",
            server.url,
            "--email",
            "x@example.org",
            "--name",
            "X",
        )
        one_line_error(rc, err)
        assert out == "" and "--otp-command" in err
        # Nothing was created on the server either: the address is still free.
        assert not server.otp_file.exists() or "x@example.org" not in server.otp_file.read_text()

"""``peerwave-tui account ...`` end to end in subprocesses: login on a fresh home, a
magic key for another device and linking it with a server override, removal, the
passphrase mode (environment and file), and one clean line for every failure."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

from tests.devserver_fixtures import running_devserver
from tests.integration.helpers import cli, cli_env, one_line_error

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _register(home: Path, server: object, email: str, name: str, **env: str) -> list[str]:
    url = server.url  # type: ignore[attr-defined]
    otp_file = server.otp_file  # type: ignore[attr-defined]
    rc, out, err = await cli(
        home, "account", "register", "--server", url, "--email", email, "--name", name,
        "--otp-command", f"grep '^{email} ' {otp_file} | tail -n 1",
        env=cli_env(**env),
    )  # fmt: skip
    assert rc == 0, err
    assert err == ""
    return re.findall(r"^\s+([A-Z0-9]{16})$", out, re.M)


async def test_login_magic_key_link_and_remove(tmp_path: Path) -> None:
    wrong = f"http://127.0.0.1:{_free_port()}"  # what the server puts in its magic keys
    async with running_devserver(tmp_path / "srv", public_url=wrong) as server:
        home, fresh, linked = tmp_path / "home", tmp_path / "fresh", tmp_path / "linked"
        codes = await _register(home, server, "alice@example.org", "Alice")
        assert len(codes) == 9  # one of the ten went into the first login

        # A backup code logs in on a fresh home (a new device of the same account).
        rc, out, err = await cli(
            fresh, "account", "login", "--server", server.url,
            "--email", "alice@example.org", "--backup-code", codes[1],
        )  # fmt: skip
        assert rc == 0, err
        assert out == f"Logged in to {server.url} as alice@example.org.\n"
        rc, out, err = await cli(fresh, "account", "login", "--server", server.url,
                                 "--email", "alice@example.org", "--backup-code", codes[1])  # fmt: skip
        one_line_error(rc, err)  # a used code
        assert "did not accept the backup code" in err

        # A magic key for another device; the key names an address that does not work
        # from here, so the link overrides it.
        rc, key, err = await cli(home, "account", "magic-key")
        assert rc == 0, err
        key = key.strip()
        assert key.split("|")[0] == wrong and len(key.split("|")) == 4
        rc, out, err = await cli(
            linked, "account", "link", "--magic-key", key, "--server", server.url
        )
        assert rc == 0, err
        assert out == f"Linked to {server.url} as alice@example.org.\n"

        listings = []
        for h in (home, fresh, linked):
            rc, out, err = await cli(h, "account", "list", "--json")
            assert rc == 0, err
            [entry] = json.loads(out)
            listings.append(entry)
        assert len({e["userId"] for e in listings}) == 1
        assert len({e["clientId"] for e in listings}) == 3
        assert len({e["deviceId"] for e in listings}) == 3
        assert all(isinstance(e["deviceId"], int) for e in listings)
        assert {e["serverName"] for e in listings} == {"PeerWave dev server"}
        assert {e["name"] for e in listings} == {"Alice"}

        # Removal asks for confirmation; without a terminal it needs --yes.
        rc, out, err = await cli(fresh, "account", "remove", "--server", server.url)
        one_line_error(rc, err)
        assert "--yes" in err
        rc, out, err = await cli(fresh, "account", "remove", "--server", server.url, "--yes")
        assert rc == 0, err
        rc, out, err = await cli(fresh, "account", "list", "--json")
        assert (rc, json.loads(out)) == (0, [])
        assert not list((fresh / "data" / "servers").glob("*/*"))


async def test_passphrase_mode_through_the_cli(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice, bob = tmp_path / "alice", tmp_path / "bob"
        # No OS keyring here: without a passphrase nothing is created.
        rc, out, err = await cli(
            alice, "account", "register", "--server", server.url, "--email", "a@example.org",
            "--name", "Alice", "--otp-command", "echo 12345", env=cli_env(**NO_KEYRING),
        )  # fmt: skip
        one_line_error(rc, err)
        assert "PEERWAVE_TUI_PASSPHRASE" in err and "--passphrase-file" in err
        assert not server.otp_file.exists() or "a@example.org" not in server.otp_file.read_text()

        env_pw = {**NO_KEYRING, "PEERWAVE_TUI_PASSPHRASE": "correct horse"}
        await _register(alice, server, "a@example.org", "Alice", **env_pw)
        await _register(bob, server, "b@example.org", "Bob", **NO_KEYRING,
                        PEERWAVE_TUI_PASSPHRASE="bobs own")  # fmt: skip
        secret_file = tmp_path / "pw.txt"
        secret_file.write_text("correct horse\n")
        rc, out, err = await cli(
            alice, "--passphrase-file", str(secret_file), "send", "--to", "Bob", "via file",
            env=cli_env(**NO_KEYRING),
        )  # fmt: skip
        assert (rc, out) == (0, ""), err
        rc, out, err = await cli(
            bob, "receive", "--json", env=cli_env(**NO_KEYRING, PEERWAVE_TUI_PASSPHRASE="bobs own")
        )
        assert rc == 0, err
        assert [json.loads(line)["text"] for line in out.splitlines()] == ["via file"]

        # A wrong or missing passphrase: one clear line, nothing changed.
        rc, out, err = await cli(alice, "receive", env=cli_env(**NO_KEYRING,
                                 PEERWAVE_TUI_PASSPHRASE="wrong horse"))  # fmt: skip
        one_line_error(rc, err)
        assert "passphrase is wrong" in err
        rc, out, err = await cli(alice, "receive", env=cli_env(**NO_KEYRING))
        one_line_error(rc, err)
        assert "PEERWAVE_TUI_PASSPHRASE" in err


async def test_failures_are_one_clean_line(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        home = tmp_path / "home"
        for args in (
            ("send", "--to", "Bob", "hello"),  # no account yet
            ("account", "link", "--magic-key", "not-a-key"),
            ("account", "register", "--server", server.url, "--email", "nope",
             "--name", "X", "--otp-command", "true"),
            ("account", "login", "--server", "ftp://example.org", "--email", "a@b.c",
             "--backup-code", "X"),
        ):  # fmt: skip
            rc, out, err = await cli(home, *args)
            one_line_error(rc, err)
            assert out == ""
        await _register(home, server, "a@example.org", "Alice")
        for args in (
            ("send", "--to", "Alice", "   "),
            ("send", "--channel", "general", "hello"),
            ("verify", "--contact", "Nobody"),
            ("receive", "--server", "http://127.0.0.1:1"),
        ):
            rc, out, err = await cli(home, *args)
            one_line_error(rc, err)
            assert out == ""
